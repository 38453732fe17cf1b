# symptom: prints ^w changed: False$
# report: the loss does not decrease below 1.0
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.w = torch.randn(4, 1)  # diagnose: tensor-not-parameter

    def forward(self, x):
        return self.linear(x) @ self.w


model = Model()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.w.clone()
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("w changed:", not torch.equal(before, model.w))
