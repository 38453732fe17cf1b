# symptom: prints ^initialised: True$
import torch

w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    w[0] = 1.0
torch.nn.init.zeros_(w)
print("initialised:", w.is_leaf and w.requires_grad and bool((w == 0).all()))
