"""Loading an example program on plaingrad or on PyTorch.

Each program in ``examples/`` picks its library with one line, ``import
plaingrad as torch``; ``load_example`` runs its source as a module, as
written or with that line reading ``import torch``, so that a test can build
the same model in both libraries.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLAINGRAD_IMPORT = "import plaingrad as torch\n"


def load_example(path: Path, library: str) -> ModuleType:
    """The program at ``path`` as a module, on ``"plaingrad"`` or ``"torch"``."""
    source = path.read_text()
    if library == "torch":
        source = source.replace(PLAINGRAD_IMPORT, "import torch\n")
    module = ModuleType(f"{path.stem}_on_{library}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module
