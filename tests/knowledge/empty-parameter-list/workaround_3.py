# symptom: prints ^optimizers: 2$
import torch
from torch import nn

params = list(nn.Linear(2, 2).parameters())
optimizers = [torch.optim.SGD(params, lr=0.1), torch.optim.Adam(params, lr=0.1)]
print("optimizers:", len(optimizers))
