# symptom: raises can't optimize a non-leaf Tensor
import torch

w = torch.randn(3, requires_grad=True) * 0.01
opt = torch.optim.SGD([w], lr=0.1)
