# symptom: prints ^gradient: True$
import torch

leaf = torch.randn(3, requires_grad=True)
w = leaf * 2
(w * torch.randn(3)).sum().backward()
print("gradient:", leaf.grad is not None)
