# symptom: prints ^gradient: True$
import torch
from torch import nn

model = nn.Linear(2, 1)
loss = nn.MSELoss(reduction="none")(model(torch.randn(4, 2)), torch.zeros(4, 1))
loss.mean().backward()
print("gradient:", model.weight.grad is not None)
