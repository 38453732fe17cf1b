# symptom: prints ^gradient: True$
import torch
from torch import nn

model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.ReLU(inplace=False))
model(torch.randn(4, 2)).pow(2).mean().backward()
print("gradient:", model[0].weight.grad is not None)
