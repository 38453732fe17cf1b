# symptom: prints ^gradient of the sum: True, 4 times the mean's: True$
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Linear(2, 1)
x, y = torch.randn(4, 2), torch.zeros(4, 1)
loss = nn.MSELoss(reduction="none")(model(x), y)
loss.backward(torch.ones_like(loss))
ones = model.weight.grad.clone()
model.zero_grad()
nn.MSELoss(reduction="sum")(model(x), y).backward()
summed = model.weight.grad.clone()
model.zero_grad()
nn.MSELoss()(model(x), y).backward()
mean = model.weight.grad.clone()
print(f"gradient of the sum: {torch.allclose(ones, summed)}, 4 times the mean's: {torch.allclose(ones, 4 * mean)}")
