# symptom: prints ^accepted$
import torch

w = torch.randn(3, requires_grad=True) * 0.01
w.retain_grad()
torch.optim.SGD([w], lr=0.1)
print("accepted")
