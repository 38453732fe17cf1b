# symptom: raises modified by an inplace operation
import torch
from torch import nn

model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.ReLU(inplace=True))
model(torch.randn(4, 2)).pow(2).mean().backward()
