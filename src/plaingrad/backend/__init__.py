"""The array namespace every op computes with.

plaingrad's ops never import NumPy directly: they import ``xp`` from here. Today
``xp`` *is* the ``numpy`` module, bound once at import time, so an op pays no
indirection at all (``xp.exp`` is ``numpy.exp``). A CuPy backend can later be a
second namespace with the same names; choosing between them happens here, not in
the ops.

``asarray_on`` and ``to_numpy`` are the two doors between the namespace and
plain NumPy (host memory), used by ``Tensor.numpy()`` and by creation functions.
"""

from __future__ import annotations

import numpy

xp = numpy
name = "numpy"


def to_numpy(array):
    """Return ``array`` as a host NumPy array (no copy for the NumPy backend)."""
    return array
