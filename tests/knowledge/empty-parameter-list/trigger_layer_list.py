# symptom: raises optimizer got an empty parameter list
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 4), nn.Linear(4, 1)]  # diagnose: module-list-not-registered

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


model = Model()
opt = torch.optim.Adam(model.parameters(), lr=0.1)
