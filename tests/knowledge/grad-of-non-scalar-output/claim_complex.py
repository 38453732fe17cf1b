# symptom: raises grad can be implicitly created only for real scalar outputs but got torch.complex64
import torch

z = torch.randn(3, dtype=torch.cfloat, requires_grad=True)
(z * 2).sum().backward()
