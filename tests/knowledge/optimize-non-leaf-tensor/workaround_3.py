# symptom: prints ^leaf: True$
import torch
from torch import nn

w = nn.Parameter(torch.randn(3, requires_grad=True) * 0.01)
torch.optim.SGD([w], lr=0.1)
print("leaf:", w.is_leaf)
