# symptom: raises element 0 of tensors does not require grad
import torch
from torch import nn

model = nn.Linear(2, 3)
h = model(torch.randn(4, 2)).sigmoid()
h = h.detach()
h += 1
h.pow(2).mean().backward()
