# symptom: prints ^new weight changed: True$
import torch
from torch import nn

layer = nn.Linear(2, 1)
layer.weight = nn.Parameter(torch.zeros(1, 2))
opt = torch.optim.SGD(layer.parameters(), lr=0.1)
before = layer.weight.detach().clone()
for step in range(3):
    opt.zero_grad()
    layer(torch.randn(4, 2)).pow(2).mean().backward()
    opt.step()
print("new weight changed:", not torch.equal(before, layer.weight))
