# symptom: prints ^trained 3 steps$
import torch
from torch import nn

model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
steps = 0
for step in range(3):
    out = model(torch.randn(8, 4))
    loss_a, loss_b = out[:, 0].pow(2).mean(), out[:, 1].abs().mean()
    opt.zero_grad()
    (loss_a + loss_b).backward()
    opt.step()
    steps += 1
print(f"trained {steps} steps")
