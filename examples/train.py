"""A small training script with the bugs autofix catches. Try: autofix diff examples/"""

import torch
from torch import nn, optim


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
        # a learnable temperature that no optimizer will ever see
        self.temperature = torch.ones(1, requires_grad=True)

    def forward(self, x):
        return self.body(x) / self.temperature


def train(model, batches, epochs=3):
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        model.train
        for x, y in batches:
            logits = model(x)
            loss = criterion(logits, y)
            # gradients from every batch pile up: nothing clears them
            loss.backward()
            optimizer.step()
            history.append(loss)  # the learning curve
    return history


def finetune(model, batches):
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    for x, y in batches:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.zero_grad()  # clears the gradients the step needs
        optimizer.step()


if __name__ == "__main__":
    data = [(torch.randn(4, 8), torch.randint(0, 3, (4,))) for _ in range(5)]
    net = Classifier()
    train(net, data)
    finetune(net, data)
