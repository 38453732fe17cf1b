# symptom: prints ^gradient: True$
import torch

w = torch.randn(3, requires_grad=True) * 2
w.retain_grad()
(w * torch.randn(3)).sum().backward()
print("gradient:", w.grad is not None)
