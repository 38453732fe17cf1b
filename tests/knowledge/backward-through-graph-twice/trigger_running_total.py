# symptom: raises Trying to backward through the graph a second time
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
total = 0
for step in range(3):
    total = total + model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    total.backward()
    opt.step()
