# symptom: prints ^saved: True$
import torch

w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    x = torch.randn(3) * 2
(w * x).sum().backward()
print("saved:", w.grad is not None)
