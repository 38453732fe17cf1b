# symptom: prints ^saved: \[\], converted: False$
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.randn(4, 1, requires_grad=True)


model = Model()
opt = torch.optim.SGD([model.w], lr=0.1)
model.to(torch.float64)
print(f"saved: {list(model.state_dict())}, converted: {model.w.dtype == torch.float64}")
