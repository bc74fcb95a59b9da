"""The representation article's program, run on plaingrad.

Each layer re-describes its input: ten numbers become 32 features, then 16,
then the two outputs. Only the imports differ from the article (``torch`` and
``torch.nn`` there). The network is untrained, so the two numbers it prints are
arbitrary; what matters is the form: a (1, 2) tensor whose ``grad_fn`` names
the op that made it, ``AddmmBackward0``, as PyTorch prints it.

Run it with ``python examples/seed_representation.py``.
"""

import plaingrad as torch
import plaingrad.nn as nn


class SimpleRepresentationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(10, 32)  # raw input -> 32 features
        self.layer2 = nn.Linear(32, 16)  # 32 features -> 16 more abstract ones
        self.output = nn.Linear(16, 2)  # 16 features -> 2 scores

    def forward(self, x):
        x = torch.relu(self.layer1(x))
        x = torch.relu(self.layer2(x))
        return self.output(x)


model = SimpleRepresentationNet()
sample_input = torch.randn(1, 10)  # one sample of ten features
output = model(sample_input)
print(output)
