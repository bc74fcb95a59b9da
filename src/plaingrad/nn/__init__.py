"""Neural-network building blocks: ``Module``, layers, losses, ``functional``.

Layers are Modules that hold Parameters and call ops from ``plaingrad.ops`` in
``forward``; nothing here computes a gradient by itself. The layer of code below
(``ops``) never imports this package.
"""

from __future__ import annotations

from . import functional, init, utils
from .activation import Flatten, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, Unflatten
from .containers import ModuleDict, ModuleList, Sequential
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter

__all__ = [
    "CrossEntropyLoss",
    "Flatten",
    "Identity",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
    "utils",
]
