# symptom: raises is at version 1; expected version 0 instead
import torch

w = torch.randn(3, requires_grad=True)
x = torch.randn(3)
y = w * x
x.add_(1)  # diagnose: inplace-on-saved-tensor
y.sum().backward()
