# symptom: raises optimizer got an empty parameter list
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(4, 1, requires_grad=True)  # diagnose: tensor-not-parameter

    def forward(self, x):
        return x @ self.w


model = Model()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
