# symptom: prints ^trained 3 steps$
import torch
from torch import nn

model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
total, steps = 0.0, 0
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    total += loss.item()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"trained {steps} steps")
