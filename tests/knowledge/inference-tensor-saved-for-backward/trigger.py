# symptom: raises Inference tensors cannot be saved for backward
import torch
from torch import nn

encoder = nn.Linear(4, 4)
head = nn.Linear(4, 1)
opt = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.1)
for step in range(3):
    x = torch.randn(8, 4)
    with torch.inference_mode():  # diagnose: no-grad-breaks-graph
        features = encoder(x)
    loss = head(features).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
