# symptom: prints ^weights changed: False$
# report: the loss stays the same every epoch
import torch
from torch import nn

model = nn.Linear(4, 1, bias=False)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.weight.detach().clone()
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    opt.zero_grad()  # diagnose: zero-grad-after-backward
    opt.step()
print("weights changed:", not torch.equal(before, model.weight))
