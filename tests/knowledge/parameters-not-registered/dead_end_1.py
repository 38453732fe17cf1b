# symptom: prints ^has a gradient: True, changed: False$
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.w = torch.randn(4, 1, requires_grad=True)

    def forward(self, x):
        return self.linear(x) @ self.w


model = Model()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.w.detach().clone()
loss = model(torch.randn(8, 4)).pow(2).mean()
opt.zero_grad()
loss.backward()
opt.step()
print(f"has a gradient: {model.w.grad is not None}, changed: {not torch.equal(before, model.w)}")
