# symptom: prints ^weights changed: False$
# report: The weights don't change after optimizer.step()
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.weight.detach().clone()
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward  # diagnose: uncalled-method
    opt.step()
print("weights changed:", not torch.equal(before, model.weight))
