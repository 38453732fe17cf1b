# symptom: prints ^gradients arrive: False then True$
import torch
from torch import nn

model = nn.Linear(4, 1)
loss = model(torch.randn(8, 4)).pow(2).mean()
missing = all(p.grad is not None for p in model.parameters())
loss.backward()
arrived = all(p.grad is not None for p in model.parameters())
print(f"gradients arrive: {missing} then {arrived}")
