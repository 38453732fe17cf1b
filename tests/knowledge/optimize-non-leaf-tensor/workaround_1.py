# symptom: prints ^leaf: True$
import torch

device = torch.device("cpu")
w = torch.randn(3, device=device, requires_grad=True)
torch.optim.SGD([w], lr=0.1)
print("leaf:", w.is_leaf)
