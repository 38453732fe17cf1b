# symptom: raises Inference tensors cannot be saved for backward
import torch
from torch import nn

encoder, head = nn.Linear(4, 4), nn.Linear(4, 1)
with torch.inference_mode():
    features = encoder(torch.randn(8, 4))
head(features.detach()).pow(2).mean().backward()
