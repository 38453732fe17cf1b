# symptom: raises element 0 of tensors does not require grad
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    x = torch.randn(8, 4)
    with torch.no_grad():  # diagnose: no-grad-breaks-graph
        pred = model(x)
    loss = (pred - 1).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
