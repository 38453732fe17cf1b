# symptom: prints ^learning rates used: \[1.0, 0.5, 0.25\]$
import torch
from torch import nn

model = nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=1.0)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
used = []
for epoch in range(3):
    used.append(opt.param_groups[0]["lr"])
    opt.step()
    scheduler.step()
print("learning rates used:", used)
