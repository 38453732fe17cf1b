# symptom: raises Good luck!
import torch
from torch import nn

torch.autograd.set_detect_anomaly(True)
try:
    model = nn.Linear(2, 3)
    h = model(torch.randn(4, 2)).sigmoid()
    h += 1  # diagnose: inplace-on-saved-tensor
    h.pow(2).mean().backward()
finally:
    torch.autograd.set_detect_anomaly(False)
