# symptom: raises Good luck!
import torch
from torch import nn

with torch.autograd.set_detect_anomaly(True):
    model = nn.Linear(2, 3)
    h = model(torch.randn(4, 2)).sigmoid()
    h += 1
    h.pow(2).mean().backward()
