# symptom: prints ^still a parameter: True, copied: True$
import torch
from torch import nn

layer = nn.Linear(2, 2)
with torch.no_grad():
    layer.weight.copy_(torch.zeros(2, 2))
print(f"still a parameter: {isinstance(layer.weight, nn.Parameter)}, copied: {bool((layer.weight == 0).all())}")
