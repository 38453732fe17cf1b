# symptom: prints ^weights changed: True$
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return x * self.w


model = Scale()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.w.detach().clone()
loss = model(torch.randn(8, 4)).pow(2).mean()
loss.backward()
opt.step()
print("weights changed:", not torch.equal(before, model.w))
