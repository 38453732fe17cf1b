# symptom: warns Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
for epoch in range(3):
    scheduler.step()  # diagnose: scheduler-before-optimizer
    loss = model(torch.randn(8, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
