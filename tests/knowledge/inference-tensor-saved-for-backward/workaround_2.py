# symptom: prints ^head trained: True$
import torch
from torch import nn

encoder, head = nn.Linear(4, 4), nn.Linear(4, 1)
with torch.inference_mode():
    features = encoder(torch.randn(8, 4))
features = features.clone()
head(features).pow(2).mean().backward()
print("head trained:", head.weight.grad is not None)
