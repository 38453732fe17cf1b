# symptom: raises a leaf Variable that requires grad is being used in an in-place operation
import torch

w = torch.randn(3, requires_grad=True)
for step in range(3):
    loss = (w * torch.randn(3)).pow(2).sum()
    loss.backward()
    w -= 0.1 * w.grad  # diagnose: inplace-on-saved-tensor
    w.grad.zero_()
