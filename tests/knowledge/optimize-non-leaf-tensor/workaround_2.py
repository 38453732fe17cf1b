# symptom: prints ^leaf: True$
import torch

w = (torch.randn(3) * 0.01).requires_grad_()
torch.optim.SGD([w], lr=0.1)
print("leaf:", w.is_leaf)
