# symptom: prints ^weights changed: True$
import torch

w = torch.randn(3, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
before = w.detach().clone()
for step in range(3):
    loss = (w * torch.randn(3)).pow(2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("weights changed:", not torch.equal(before, w))
