# symptom: raises cannot assign 'torch.FloatTensor' object to parameter 'w'
import torch
from torch import nn

module = nn.Module()
module.register_parameter("w", torch.randn(2))
