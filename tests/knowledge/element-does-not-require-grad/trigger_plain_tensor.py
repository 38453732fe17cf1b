# symptom: raises element 0 of tensors does not require grad
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(4)  # diagnose: tensor-not-parameter

    def forward(self, x):
        return x * self.w


model = Scale()
loss = model(torch.randn(8, 4)).pow(2).mean()
loss.backward()
