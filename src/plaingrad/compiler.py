"""``torch.compiler``: the functions around ``compile`` that scripts use.

- ``reset()``: forget every recording and program;
- ``disable(fn)``: ``fn`` runs eagerly, and so does a compiled call that
  reaches it;
- ``is_compiling()``: True while a compiled function's call is being recorded
  (the only time its Python runs under ``compile``), as PyTorch's is True
  while Dynamo traces.
"""

from __future__ import annotations

from ._compile import disable, reset
from ._compile.record import recording_active

__all__ = ["disable", "is_compiling", "reset"]


def is_compiling() -> bool:
    """Is a compiled function's call being recorded in this thread?"""
    return recording_active()
