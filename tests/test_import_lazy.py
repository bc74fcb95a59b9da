"""``import plaingrad`` loads only what a training step needs.

The tools, ONNX export, checkpoint files, data loading and the learning-rate
schedules load on first use; so do the layers beyond the core of ``nn`` (with
their ``nn.functional`` ops), each optimizer, ``nn.utils`` and NumPy's
random module. Each is reached exactly as in PyTorch (``torch.save``,
``torch.utils.data.DataLoader``, ``torch.optim.lr_scheduler.StepLR``,
``torch.nn.Conv2d``, ``from torch.onnx import export``). These run in fresh
interpreters, since this one has imported everything.
"""

from __future__ import annotations

import subprocess
import sys

LAZY = (
    "plaingrad.explain",
    "plaingrad.lens",
    "plaingrad.onnx",
    "plaingrad.io",
    "plaingrad.utils.data",
    "plaingrad.optim.lr_scheduler",
    "zipfile",
    "pickletools",
    # layers and their ops, beyond Module, Linear, activations and the main losses
    "plaingrad.nn.attention",
    "plaingrad.nn.conv",
    "plaingrad.nn.dropout",
    "plaingrad.nn.loss_margin",
    "plaingrad.nn.loss_more",
    "plaingrad.nn.loss_prob",
    "plaingrad.nn.normalization",
    "plaingrad.nn.pooling",
    "plaingrad.nn.rnn",
    "plaingrad.nn.rnn_cells",
    "plaingrad.nn.sparse",
    "plaingrad.nn.transformer",
    "plaingrad.nn.upsampling",
    "plaingrad.nn.utils.clip_grad",
    "plaingrad.nn.utils.convert_parameters",
    "plaingrad.nn.utils.rnn",
    "plaingrad.ops.attention",
    "plaingrad.ops.conv",
    "plaingrad.ops.dropout",
    "plaingrad.ops.embedding",
    "plaingrad.ops.fold",
    "plaingrad.ops.loss_binary",
    "plaingrad.ops.loss_ctc",
    "plaingrad.ops.loss_embedding",
    "plaingrad.ops.loss_margin",
    "plaingrad.ops.loss_margin_multi",
    "plaingrad.ops.loss_prob",
    "plaingrad.ops.loss_regression",
    "plaingrad.ops.normalization",
    "plaingrad.ops.padding",
    "plaingrad.ops.pixel_shuffle",
    "plaingrad.ops.pooling",
    "plaingrad.ops.resample",
    # every optimizer, and their base class
    "plaingrad.optim.optimizer",
    "plaingrad.optim.adam",
    "plaingrad.optim.adamw",
    "plaingrad.optim.lbfgs",
    "plaingrad.optim.sgd",
    # NumPy's random module (with secrets, hashlib) until the first draw, and
    # standard modules only rare paths use
    "numpy.random",
    "secrets",
    "json",
    "copy",
    "string",
    "traceback",
)


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_plaingrad_leaves_the_optional_parts_unloaded():
    code = f"import sys, plaingrad\nprint([m for m in {LAZY!r} if m in sys.modules])\n"
    assert _run(code) == "[]"


def test_each_lazy_part_is_reached_as_in_pytorch(tmp_path):
    path = tmp_path / "t.pt"
    code = f"""
import plaingrad as torch
from plaingrad.utils.data import DataLoader, TensorDataset
from plaingrad.optim.lr_scheduler import StepLR
from plaingrad import save, load
from plaingrad.onnx import export
model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
loader = torch.utils.data.DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2)
torch.save(model.state_dict(), {str(path)!r})
print(
    torch.save is save, torch.load is load, torch.io.save is save,
    type(schedule) is StepLR, DataLoader is torch.utils.data.DataLoader,
    callable(export), len(list(loader)), sorted(load({str(path)!r})),
)
"""
    assert _run(code) == "True True True True True True 2 ['bias', 'weight']"


def test_unknown_names_still_raise_attribute_error():
    code = (
        "import plaingrad\n"
        "for owner, name in ((plaingrad, 'nope'), (plaingrad.utils, 'nope'), "
        "(plaingrad.optim, 'nope')):\n"
        "    try:\n"
        "        getattr(owner, name)\n"
        "    except AttributeError as error:\n"
        "        print(error)\n"
    )
    assert _run(code).splitlines() == [
        "module 'plaingrad' has no attribute 'nope'",
        "module 'plaingrad.utils' has no attribute 'nope'",
        "module 'plaingrad.optim' has no attribute 'nope'",
    ]


def test_every_deferred_name_is_the_object_its_module_defines():
    # Each table entry, reached three ways, is its home module's own object;
    # ``dir`` lists it and ``import *`` binds every name of ``__all__``.
    code = """
import importlib, sys, plaingrad
packages = ("plaingrad.nn", "plaingrad.nn.functional", "plaingrad.optim",
            "plaingrad.nn.utils")
missing = {}
for name in packages:
    package = sys.modules[name]
    for entry in sorted(set(package.__all__) - set(vars(package))):
        value = getattr(package, entry)
        exec(f"from {name} import {entry} as again", {}, scope := {})
        ok = scope["again"] is value and entry in dir(package)
        home = getattr(value, "__module__", getattr(value, "__name__", ""))
        ok = ok and getattr(importlib.import_module(home), entry, value) is value
        if not ok:
            missing[name] = missing.get(name, []) + [entry]
    star = {}
    exec(f"from {name} import *", star)
    unbound = [n for n in package.__all__ if n not in star]
    if unbound:
        missing[f"{name} *"] = unbound
print(missing)
"""
    assert _run(code) == "{}"


def test_deferred_layers_ops_and_optimizers_work_as_in_pytorch():
    code = """
import plaingrad as torch
import plaingrad.nn.functional as F
from plaingrad.nn import Conv2d, LSTM
from plaingrad.nn.utils.rnn import pad_sequence
import plaingrad.ops.conv, plaingrad.ops.pooling, plaingrad.nn.rnn
print(
    torch.nn.Conv2d is Conv2d, F.conv2d is plaingrad.ops.conv.conv2d,
    F.max_pool2d is plaingrad.ops.pooling.max_pool2d, torch.nn.LSTM is LSTM,
    torch.nn.rnn is plaingrad.nn.rnn, torch.nn.utils.rnn.pad_sequence is pad_sequence,
    torch.optim.SGD.__name__, torch.optim.Adam.__module__,
)
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Dropout(0.0), torch.nn.Linear(2, 1),
)
optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
loss = torch.nn.BCEWithLogitsLoss()(net(torch.ones(4, 1, 4, 4)), torch.ones(4, 1))
loss.backward()
optimizer.step()
print(type(loss).__name__, loss.shape == (), tuple(net[0].weight.grad.shape))
"""
    assert _run(code).splitlines() == [
        "True True True True True True SGD plaingrad.optim.adam",
        "Tensor True (2, 1, 3, 3)",
    ]


def test_streams_are_numpys_pcg64_though_built_on_first_draw():
    # Right values from NumPy: a stream seeded with s is PCG64(s); the global
    # stream starts from PyTorch's default seed; a reseed before any draw, a
    # saved state and a fresh Generator all give what NumPy gives.
    code = """
import sys
import plaingrad as torch
print("numpy.random" in sys.modules)
first = torch.rand(3, dtype=torch.float64).tolist()
print("numpy.random" in sys.modules)
import numpy as np
print(first == np.random.Generator(np.random.PCG64(67280421310721)).random(3).tolist())
torch.manual_seed(5)
torch.manual_seed(7)
state = torch.get_rng_state()
a = torch.rand(2, dtype=torch.float64).tolist()
print(a == np.random.Generator(np.random.PCG64(7)).random(2).tolist())
torch.set_rng_state(state)
print(torch.rand(2, dtype=torch.float64).tolist() == a, torch.initial_seed())
g = torch.Generator().manual_seed(11)
print(torch.randn(2, generator=g, dtype=torch.float64).tolist()
      == np.random.Generator(np.random.PCG64(11)).standard_normal(2).tolist())
try:
    torch.Generator().nope
except AttributeError as error:
    print(error)
"""
    assert _run(code).splitlines() == [
        "False",
        "True",
        "True",
        "True",
        "True 7",
        "True",
        "'Generator' object has no attribute 'nope'",
    ]
