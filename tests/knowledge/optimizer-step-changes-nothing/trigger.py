# symptom: prints ^weights changed: False$
# report: my model does not learn, the loss does not decrease
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
before = model.weight.detach().clone()
for step in range(3):
    loss = nn.functional.mse_loss(model(torch.randn(8, 4)), torch.zeros(8, 1))
    opt.zero_grad()
    opt.step()  # diagnose: step-without-backward
print("weights changed:", not torch.equal(before, model.weight))
