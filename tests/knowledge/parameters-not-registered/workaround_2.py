# symptom: prints ^saved: \['body.weight', 'body.bias', 'heads.out.weight', 'heads.out.bias'\]$
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.heads = nn.ModuleDict({"out": nn.Linear(4, 1)})


print("saved:", list(Model().state_dict()))
