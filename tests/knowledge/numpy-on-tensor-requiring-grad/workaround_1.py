# symptom: prints ^converted: ndarray float list$
import torch
from torch import nn

model = nn.Linear(2, 1)
pred = model(torch.randn(4, 2))
array = pred.detach().cpu().numpy()
number = pred.sum().item()
as_list = pred.tolist()
print("converted:", type(array).__name__, type(number).__name__, type(as_list).__name__)
