# symptom: raises which is output 0 of Add,
import torch

w = torch.randn(3, requires_grad=True)
z = w + 1
out = (z * z).sum()
z.add_(1)  # diagnose: inplace-on-saved-tensor
out.backward()
