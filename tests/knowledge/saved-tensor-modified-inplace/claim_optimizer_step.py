# symptom: raises modified by an inplace operation
import torch
from torch import nn

model = nn.Linear(2, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
out = model(model(torch.randn(4, 2)))
out.sum().backward(retain_graph=True)
opt.step()
out.sum().backward()
