# symptom: prints ^gradient: True$
import torch
from torch import nn

model = nn.Linear(2, 3)
h = model(torch.randn(4, 2)).sigmoid()
h = h.clone()
h[h > 0.5] = 0
h.pow(2).mean().backward()
print("gradient:", model.weight.grad is not None)
