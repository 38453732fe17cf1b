# symptom: raises Trying to backward through the graph a second time
import torch
from torch import nn

model = nn.Linear(4, 2)
out = model(torch.randn(8, 4)).sigmoid()
out[:, 0].mean().backward()
out[:, 1].mean().backward()
