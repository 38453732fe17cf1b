# symptom: raises you can only change requires_grad flags of leaf variables
import torch

w = torch.randn(3, requires_grad=True) * 2
w.requires_grad = True
