# symptom: raises modified by an inplace operation
import torch
from torch import nn

model = nn.Linear(2, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    h = model(torch.randn(4, 2)).sigmoid()
    h += 1  # diagnose: inplace-on-saved-tensor
    loss = h.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
