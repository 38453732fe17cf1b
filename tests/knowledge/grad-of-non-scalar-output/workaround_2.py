# symptom: prints ^gradient: True$
import torch
from torch import nn

model = nn.Linear(2, 1)
nn.MSELoss()(model(torch.randn(4, 2)), torch.zeros(4, 1)).backward()
print("gradient:", model.weight.grad is not None)
