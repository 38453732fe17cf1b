# symptom: prints ^w changed: False$
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.w = torch.randn(4, 1)

    def forward(self, x):
        return self.linear(x) @ self.w


model = Model()
opt = torch.optim.SGD(model.parameters(), lr=10.0)
before = model.w.clone()
for step in range(20):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("w changed:", not torch.equal(before, model.w))
