# symptom: prints ^trained 3 steps$
import torch
from torch import nn

rnn = nn.LSTMCell(4, 8)
opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
h, c = torch.zeros(2, 8), torch.zeros(2, 8)
steps = 0
for step in range(3):
    h, c = h.detach(), c.detach()
    h, c = rnn(torch.randn(2, 4), (h, c))
    loss = h.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
print(f"trained {steps} steps")
