# symptom: raises modified by an inplace operation
import torch
from torch import nn

rnn = nn.RNNCell(4, 8)
opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
hidden = torch.zeros(2, 8)
for step in range(3):
    hidden = rnn(torch.randn(2, 4), hidden)
    loss = hidden.pow(2).mean()
    opt.zero_grad()
    loss.backward(retain_graph=True)
    opt.step()
