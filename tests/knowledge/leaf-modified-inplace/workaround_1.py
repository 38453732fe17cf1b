# symptom: prints ^weights changed: True$
import torch

w = torch.randn(3, requires_grad=True)
before = w.detach().clone()
for step in range(3):
    loss = (w * torch.randn(3)).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad.zero_()
print("weights changed:", not torch.equal(before, w))
