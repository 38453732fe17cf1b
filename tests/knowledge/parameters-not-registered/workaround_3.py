# symptom: prints ^counted: 20 of 24$
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
used = sum(p.numel() for p in (model.linear.weight, model.linear.bias, model.w))
print(f"counted: {sum(p.numel() for p in model.parameters())} of {used}")
