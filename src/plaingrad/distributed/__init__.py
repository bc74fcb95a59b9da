"""Data-parallel training over MPI, with ``torch.distributed``'s names.

A script becomes many processes by being launched with ``mpiexec -n N``; each
process (a *rank*) calls ``init_process_group(backend="mpi")``, which takes the
rank and the world size from the MPI launcher (a plain ``python script.py`` is
a world of one, as MPI's singletons are). MPI itself is mpi4py on the MPICH
wheel, the ``mpi`` extra: ``pip install "plaingrad[mpi]"``; nothing here
imports mpi4py before ``init_process_group``, so ``import plaingrad`` never
pays for it.

The process group (``_group.py``) is a duplicate of ``MPI.COMM_WORLD``, so a
program's own MPI traffic never mixes with ours. Collectives
(``collectives.py``) work in place on a tensor's NumPy array through mpi4py's
buffer interface: ``all_reduce``, ``broadcast``, ``all_gather``,
``reduce_scatter``, ``barrier``. Every one is started nonblocking and waited
for by polling the request with a deadline, so a rank whose partners never
arrive raises a ``RuntimeError`` naming the op, the rank and the timeout
instead of hanging; and a rank that raises ends the whole job (an exception
hook installed at init calls ``MPI.COMM_WORLD.Abort``), so no rank is left
waiting for it.

Threads: each rank sets its BLAS pool to ``max(1, cores // ranks on this
host)`` threads at init, so that ranks sharing a machine do not fight over its
cores; a user who set ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or
``MKL_NUM_THREADS`` keeps that choice. ``destroy_process_group`` restores the
previous count.

``nn.parallel.DistributedDataParallel`` and ``utils.data.DistributedSampler``
are built on these.
"""

from __future__ import annotations

from ._group import (
    GroupMember,
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)
from .collectives import (
    ReduceOp,
    Work,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    reduce_scatter,
)

__all__ = [
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "reduce_scatter",
]
