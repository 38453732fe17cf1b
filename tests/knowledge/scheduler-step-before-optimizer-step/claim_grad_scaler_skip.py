# symptom: warns Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`
import torch
from torch import nn

model = nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
scaler = torch.amp.GradScaler("cpu")
loss = model(torch.randn(4, 2)).sum() * float("inf")  # overflowing gradients: the step is skipped
scaler.scale(loss).backward()
scaler.step(opt)
scaler.update()
scheduler.step()
