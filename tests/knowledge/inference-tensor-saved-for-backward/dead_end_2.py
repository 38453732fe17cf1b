# symptom: raises Setting requires_grad=True on inference tensor outside InferenceMode is not allowed
import torch
from torch import nn

encoder = nn.Linear(4, 4)
with torch.inference_mode():
    features = encoder(torch.randn(8, 4))
features.requires_grad_()
