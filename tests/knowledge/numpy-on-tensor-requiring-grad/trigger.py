# symptom: raises Can't call numpy\(\) on Tensor that requires grad
import torch
from torch import nn

model = nn.Linear(2, 1)
pred = model(torch.randn(4, 2))
values = pred.numpy()
