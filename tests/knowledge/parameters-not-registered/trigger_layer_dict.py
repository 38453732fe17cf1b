# symptom: prints ^head changed: False$
# report: some layers are missing from the state_dict and never train
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.heads = {"out": nn.Linear(4, 1)}  # diagnose: module-list-not-registered

    def forward(self, x):
        return self.heads["out"](self.body(x))


model = Model()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.heads["out"].weight.detach().clone()
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("head changed:", not torch.equal(before, model.heads["out"].weight))
