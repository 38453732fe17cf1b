# symptom: prints ^learning rates used: \[0.5, 0.25, 0.125\]$
import warnings

import torch
from torch import nn

model = nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=1.0)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
used = []
with warnings.catch_warnings():
    warnings.filterwarnings("ignore")
    for epoch in range(3):
        scheduler.step()
        used.append(opt.param_groups[0]["lr"])
        opt.step()
print("learning rates used:", used)
