"""``import plaingrad`` loads only what a training step needs.

The tools, ONNX export, checkpoint files, data loading and the learning-rate
schedules load on first use; each is reached exactly as in PyTorch
(``torch.save``, ``torch.utils.data.DataLoader``,
``torch.optim.lr_scheduler.StepLR``, ``from torch.onnx import export``).
These run in fresh interpreters, since this one has imported everything.
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
