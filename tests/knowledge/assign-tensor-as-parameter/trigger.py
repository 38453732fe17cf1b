# symptom: raises cannot assign 'torch.FloatTensor' as parameter 'weight'
import torch
from torch import nn

layer = nn.Linear(2, 2)
layer.weight = torch.randn(2, 2)
