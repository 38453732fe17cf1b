# symptom: raises Trying to backward through the graph a second time
import torch
from torch import nn

rnn = nn.RNNCell(4, 8)
opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
hidden = torch.zeros(2, 8)
for step in range(3):
    hidden = rnn(torch.randn(2, 4), hidden)  # diagnose: hidden-state-not-detached
    loss = hidden.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
