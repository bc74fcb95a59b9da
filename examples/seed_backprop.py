"""The backpropagation article's program, run on plaingrad.

A two-layer network learns XOR: four inputs, a hidden layer of eight ReLU
units, mean squared error and Adam. Only the imports differ from the article,
which imports ``torch``, ``torch.nn`` and ``torch.optim``; every other line is
the program as a PyTorch user would write it.

Run it with ``python examples/seed_backprop.py``; it prints the loss after the
last of its 1000 steps (close to zero once the network has learned XOR).
"""

import plaingrad as torch
import plaingrad.nn as nn
import plaingrad.optim as optim

# Two inputs, a hidden layer of eight ReLU units, one output.
model = nn.Sequential(
    nn.Linear(2, 8),
    nn.ReLU(),
    nn.Linear(8, 1),
)

# The four corners of the unit square and their XOR.
X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)

criterion = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.01)

for epoch in range(1000):
    predictions = model(X)  # forward pass: (4, 1)
    loss = criterion(predictions, y)
    optimizer.zero_grad()  # gradients accumulate, so clear last step's
    loss.backward()  # backpropagation fills every parameter's .grad
    optimizer.step()  # Adam moves each parameter against its gradient

print("Final loss:", loss.item())
