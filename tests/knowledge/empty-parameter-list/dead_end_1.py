# symptom: prints ^parameters: 0$
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(4, 1, requires_grad=True)


print("parameters:", len(list(Model().parameters())))
