"""The array namespace every op computes with.

plaingrad's ops do their array arithmetic through ``xp``, imported from here,
never through ``numpy`` itself. Today ``xp`` *is* the ``numpy`` module, bound
once at import time, so an op pays no indirection at all: ``xp.exp`` is
``numpy.exp``, the same attribute lookup an op written against NumPy would make.
A CuPy backend can later be a second namespace with the same names; choosing
between them happens here, not in the ops.

What stays with NumPy in the ops is host-side bookkeeping that never touches
array data: dtype objects, scalar types in ``isinstance`` checks, and shape
arithmetic on Python tuples. ``errstate`` (silencing floating-point warnings
inside a rule whose inf or NaN is the intended answer) is a host setting, so it
lives here too, beside the namespace it belongs to.
"""

from __future__ import annotations

import numpy

xp = numpy
name = "numpy"
errstate = numpy.errstate
