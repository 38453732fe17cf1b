# symptom: raises a view of a leaf Variable that requires grad
import torch

w = torch.randn(3, requires_grad=True)
w[0] = 1.0  # diagnose: inplace-on-saved-tensor
