# symptom: prints ^both trained: True$
import torch
from torch import nn

encoder, head = nn.Linear(4, 4), nn.Linear(4, 1)
features = encoder(torch.randn(8, 4))
head(features).pow(2).mean().backward()
print("both trained:", encoder.weight.grad is not None and head.weight.grad is not None)
