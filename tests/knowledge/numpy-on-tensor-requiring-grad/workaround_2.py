# symptom: prints ^converted: ndarray$
import torch
from torch import nn

model = nn.Linear(2, 1)
pred = model(torch.randn(4, 2))
with torch.no_grad():
    array = pred.numpy()
print("converted:", type(array).__name__)
