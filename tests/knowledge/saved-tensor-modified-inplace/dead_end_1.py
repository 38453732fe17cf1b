# symptom: raises modified by an inplace operation
import torch
from torch import nn

model = nn.Linear(2, 3)
h = model(torch.randn(4, 2)).sigmoid()
h += 1
h.pow(2).mean().backward(retain_graph=True)
