# symptom: prints ^weights changed: False$
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.weight.detach().clone()
for step in range(3):
    loss = (model(torch.randn(8, 4)).detach() - 1).pow(2).mean()
    loss.requires_grad_()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("weights changed:", not torch.equal(before, model.weight))
