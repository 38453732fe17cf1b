# symptom: raises TypeError: unsupported operand type
import torch

w = torch.randn(3, requires_grad=True)
for step in range(3):
    loss = (w * torch.randn(3)).pow(2).sum()
    loss.backward()
    w = w - 0.1 * w.grad
