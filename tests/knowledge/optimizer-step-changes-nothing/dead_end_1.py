# symptom: prints ^weights changed: False$
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=100.0)
before = model.weight.detach().clone()
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.step()
print("weights changed:", not torch.equal(before, model.weight))
