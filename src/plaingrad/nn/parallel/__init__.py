"""``nn.parallel``: ``DistributedDataParallel``, data-parallel training on MPI.

``distributed.py`` holds the module wrapper (construction-time sync, buffers,
``no_sync``); ``_reducer.py`` the gradient buckets and their all-reduces,
started from the parameters' post-accumulate-grad hooks during backward. Both
load on first use, so that ``import plaingrad`` does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import attach

if TYPE_CHECKING:  # the names below, for type checkers and linters
    from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]

__getattr__, __dir__ = attach(
    __name__,
    {"DistributedDataParallel": ".distributed"},
)
