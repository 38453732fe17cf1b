# symptom: raises grad can be implicitly created only for scalar outputs
import torch
from torch import nn

model = nn.Linear(2, 1)
criterion = nn.MSELoss(reduction="none")
loss = criterion(model(torch.randn(4, 2)), torch.zeros(4, 1))
loss.backward()
