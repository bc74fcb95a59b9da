"""``plaingrad.linalg``: PyTorch's ``torch.linalg`` namespace.

The ops live in ``plaingrad.ops.linalg_solve`` (inverse, determinant, solve,
norms) and ``plaingrad.ops.linalg`` (products); this module only names them
where a PyTorch program looks for them.
"""

from __future__ import annotations

from .ops.linalg import matmul
from .ops.linalg_solve import (
    LinAlgError,
    det,
    inv,
    matrix_norm,
    norm,
    solve,
    vector_norm,
)

__all__ = [
    "LinAlgError",
    "det",
    "inv",
    "matmul",
    "matrix_norm",
    "norm",
    "solve",
    "vector_norm",
]
