# symptom: raises optimizer got an empty parameter list
import torch
from torch import nn

params = nn.Linear(2, 2).parameters()
print(len(list(params)))
torch.optim.SGD(params, lr=0.1)
