# symptom: warns The .grad attribute of a Tensor that is not a leaf Tensor is being accessed
import torch

w = torch.randn(3, requires_grad=True) * 2
(w * torch.randn(3)).sum().backward()
print(w.grad)
