# symptom: prints ^gradient: True$
import torch

device = torch.device("cpu")
w = torch.randn(3, device=device, requires_grad=True)
(w * torch.randn(3)).sum().backward()
print("gradient:", w.grad is not None)
