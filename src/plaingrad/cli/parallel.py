"""Data-parallel ``plaingrad train``: one run spread over the ranks of an MPI job.

``mpiexec -n 4 plaingrad train digits`` starts four copies of the command.
Each finds out from its environment that an MPI launcher started it
(``launch_size``), joins the job's process group
(``plaingrad.distributed.init_process_group("mpi")``) and trains the same
network on its share of every batch, with the gradients averaged across the
ranks by ``DistributedDataParallel``. The launchers recognised, by the
variables they set:

- ``PMI_SIZE`` / ``PMI_RANK``: MPICH's Hydra (the ``mpiexec`` of the ``mpi``
  extra), Intel MPI, Slurm's ``srun --mpi=pmi2``;
- ``OMPI_COMM_WORLD_SIZE`` / ``OMPI_COMM_WORLD_RANK``: Open MPI's ``mpirun``;
- ``MPI_LOCALNRANKS``: Hydra's count of the ranks on this host;
- ``PMIX_RANK``: a PMIx launcher (``srun --mpi=pmix``), whose size MPI gives
  (``SLURM_STEP_NUM_TASKS`` says it beforehand under Slurm).

A job of one rank, or a command started without a launcher, trains in one
process exactly as before.

The result is the single-process run's with the same ``--batch-size``, the
global batch. Every rank draws the same shuffled order from the same seed;
each global batch is cut into contiguous shares (``share_bounds``), rank r
taking the r-th. ``--batch-size`` must divide evenly across the ranks, so
every full batch gives each rank as many rows; the last, short batch of an
epoch is split as evenly as it goes (the first ranks take one row more).
Each rank's loss is the sum of its rows' cross-entropies times N / B (N
ranks, B rows in the global batch), so that DDP's average of the ranks'
gradients is the gradient of the global batch's mean loss whatever the
shares; a rank whose share is empty (a last batch of fewer than N rows)
computes on the batch's first row with weight 0, since every rank must take
part in every all-reduce. The loss value each rank sees is the global mean
itself (``ShareLoss``): the progress, the divergence check and L-BFGS's line
search agree on every rank. Accuracies are counted on each rank's share and
summed across ranks, test set included.

Only rank 0 prints and writes the run folder and checkpoints. An error every
rank meets (a usage error, a missing file) is printed once, by rank 0; one
that a single rank meets during setup is printed by that rank, and the
others stop with a line naming it (``World.together``), rather than wait for
it in a collective. Ctrl-C stops the whole job (status 130) without a
checkpoint: ``--checkpoint-every`` keeps them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..datasets import MissingExtraError

# (variable, what set it): the world size as the launchers announce it.
SIZE_VARIABLES = (
    ("PMI_SIZE", "MPICH/Hydra, Intel MPI or Slurm's PMI-2"),
    ("OMPI_COMM_WORLD_SIZE", "Open MPI"),
    ("MPI_LOCALNRANKS", "Hydra, ranks on this host"),
    ("SLURM_STEP_NUM_TASKS", "Slurm"),
)
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
PMIX_VARIABLE = "PMIX_RANK"

_current: dict[str, Any] = {"world": None}


def launch_size(environ: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """How many ranks an MPI launcher started, as the environment says.

    Returns:
        ``(size, "VARIABLE=value")`` when a launcher started this process
        (size 0 when a PMIx launcher left the size to MPI), else None.
    """
    env = os.environ if environ is None else environ
    pmix = PMIX_VARIABLE in env
    for name, _ in SIZE_VARIABLES:
        if name == "SLURM_STEP_NUM_TASKS" and not pmix:
            continue  # an allocation's variable, set also without a launcher
        value = env.get(name, "")
        if value.strip().isdigit():
            return int(value), f"{name}={value}"
    if pmix:
        return 0, f"{PMIX_VARIABLE}={env[PMIX_VARIABLE]}"
    return None


def launch_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank as the launcher's environment gives it (0 if none)."""
    env = os.environ if environ is None else environ
    for name in RANK_VARIABLES:
        value = env.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return 0


def share_bounds(total: int, rank: int, size: int) -> tuple[int, int]:
    """The rows ``[lo, hi)`` of a batch of ``total`` rows that ``rank`` takes.

    Shares are contiguous and in rank order, their sizes differ by at most
    one, and the first ``total % size`` ranks take the extra rows.

    Example:
        >>> from plaingrad.cli.parallel import share_bounds
        >>> [share_bounds(29, rank, 2) for rank in range(2)]
        [(0, 15), (15, 29)]
        >>> [share_bounds(2, rank, 4) for rank in range(4)]
        [(0, 1), (1, 2), (2, 2), (2, 2)]
    """
    base, extra = divmod(total, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def batch_share(
    index: int, rows: int, batch_size: int, rank: int, size: int
) -> tuple[int, int]:
    """``(total, count)``: the size of global batch ``index`` of an epoch over
    ``rows`` samples (the last one may be short), and of ``rank``'s share."""
    total = min(batch_size, rows - index * batch_size)
    lo, hi = share_bounds(total, rank, size)
    return total, hi - lo


class RankShare:
    """A batch sampler: each batch of ``batches``, cut to ``rank``'s share.

    An empty share becomes the batch's first index (see the module's
    docstring: the rank computes on it with weight 0).
    """

    def __init__(self, batches: Any, rank: int, size: int) -> None:
        self.batches = batches
        self.rank = rank
        self.size = size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            lo, hi = share_bounds(len(batch), self.rank, self.size)
            yield list(batch[lo:hi]) if hi > lo else list(batch[:1])

    def __len__(self) -> int:
        return len(self.batches)


class RankFailed(RuntimeError):
    """Another rank of the job failed; its own line says why."""


def _global_value():
    """The autograd Function behind ``ShareLoss``: built on first use, as the
    command line imports autograd lazily."""
    from ..autograd import Function

    class GlobalValue(Function):
        """Forward: ``value`` (the global loss); backward: the gradient goes
        to ``local`` (this rank's part of it), unchanged."""

        @staticmethod
        def forward(ctx: Any, local: Any, value: Any) -> Any:
            return value.clone()

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> tuple:
            return grad_output, None  # d(value)/d(local) is taken as 1

    return GlobalValue


class ShareLoss:
    """Cross-entropy of one rank's share of a global batch (see the module's
    docstring); call ``share`` before each step."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.scale = 1.0
        self._function = _global_value()

    def share(self, total: int, count: int) -> None:
        """The next batch has ``total`` rows, ``count`` of them this rank's."""
        self.scale = self.world.size / total if count else 0.0

    def __call__(self, outputs: Any, targets: Any) -> Any:
        from .. import distributed as dist
        from ..nn import functional

        # sum over the share times N / B; DDP divides the sum over ranks by N
        local = functional.cross_entropy(outputs, targets, reduction="sum")
        local = local * self.scale
        value = local.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / self.world.size  # the global batch's mean loss
        return self._function.apply(local, value)


class World:
    """The ranks a run spans: this one process, or an MPI job's.

    Args:
        rank: this process's rank.
        size: the number of ranks.
        launch: how the launcher announced the job (``"PMI_SIZE=4"``).
    """

    def __init__(self, rank: int = 0, size: int = 1, launch: str = "") -> None:
        self.rank = rank
        self.size = size
        self.launch = launch
        # True once an error of this rank alone is known: it prints it.
        self.speaks = rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def interrupted(self) -> None:
        """Ctrl-C: a rank that leaves with a collective unfinished ends the
        job with status 130, without a further line."""
        if self.distributed:
            import plaingrad.distributed as dist

            if dist.is_initialized():
                dist.group.WORLD.abort_status = 130

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0

    def loader(self, single: Any) -> Any:
        """The single-process ``DataLoader``, or one that yields this rank's
        share of each of its batches, drawn from the same generator."""
        if not self.distributed:
            return single
        from ..utils.data import DataLoader

        return DataLoader(
            single.dataset,
            batch_sampler=RankShare(single.batch_sampler, self.rank, self.size),
            generator=single.generator,
        )

    def wrap(self, model: Any) -> Any:
        """``model`` in ``DistributedDataParallel`` when there are ranks to
        average over (its construction broadcasts rank 0's weights)."""
        if not self.distributed:
            return model
        from ..nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)

    def criterion(self) -> Any:
        """The training loss: cross-entropy, or its share (``ShareLoss``)."""
        if not self.distributed:
            from .. import nn

            return nn.CrossEntropyLoss()
        return ShareLoss(self)

    def share(self, index: int, rows: int, batch_size: int) -> tuple[int, int]:
        """``batch_share`` for this rank."""
        return batch_share(index, rows, batch_size, self.rank, self.size)

    def total(self, value: float) -> float:
        """The sum of ``value`` over the ranks (``value`` on one process)."""
        if not self.distributed:
            return value
        from .. import distributed as dist
        from .. import float64, tensor

        summed = tensor([float(value)], dtype=float64)
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return summed.item()

    def count(self, value: int) -> int:
        """The sum of a count over the ranks."""
        if not self.distributed:
            return value
        return int(round(self.total(value)))

    def accuracy(self, model: Any, inputs: Any, labels: Any) -> float:
        """The fraction of all ``inputs`` whose highest logit is the label,
        each rank counting its share of the rows."""
        from .. import no_grad

        lo, hi = share_bounds(len(labels), self.rank, self.size)
        correct = 0
        if hi > lo:
            model.eval()
            with no_grad():
                predicted = model(inputs[lo:hi]).argmax(dim=1)
            correct = int((predicted == labels[lo:hi]).sum().item())
        return self.count(correct) / len(labels)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Run a block on every rank and fail on all of them if it failed on
        any, so that none waits in a collective for a rank that has stopped.

        Raises:
            the block's own error on a rank where it failed (printed there
            unless rank 0 failed too, which prints the shared error);
            RankFailed on the others.
        """
        failure: BaseException | None = None
        try:
            yield
        except BaseException as error:  # noqa: B036 (re-raised below)
            failure = error
        if not self.distributed:
            if failure is not None:
                raise failure
            return
        failed = self._failed_ranks(failure is not None)
        if failure is not None:
            if not self.is_main and 0 not in failed:
                self.speaks = True
            raise failure
        if failed:
            names = ", ".join(map(str, failed))
            several = "s" if len(failed) > 1 else ""
            raise RankFailed(
                f"rank{several} {names} of {self.size} failed before training "
                "started (see the message above); stopping every rank"
            )

    def _failed_ranks(self, failed: bool) -> list[int]:
        from .. import distributed as dist
        from .. import float64, zeros

        flags = zeros(self.size, dtype=float64)
        if failed:
            flags[self.rank] = 1.0
        dist.all_reduce(flags, op=dist.ReduceOp.SUM)
        return [rank for rank, flag in enumerate(flags.tolist()) if flag]


def start_world(environ: Mapping[str, str] | None = None) -> World:
    """Join the MPI job this process belongs to, if an MPI launcher started
    it with more than one rank; otherwise a world of one.

    Raises:
        MissingExtraError: when a launcher started several ranks but mpi4py
            (the ``mpi`` extra) or ``plaingrad.distributed`` is missing: the
            ranks would otherwise train N separate copies into one folder.
    """
    _current["world"] = None  # a new command: no world until joined
    launched = launch_size(environ)
    if launched is None or launched[0] == 1:
        world = World()
    else:
        world = _join(*launched)
    _current["world"] = world
    return world


def _join(size: int, announced: str) -> World:
    ranks = f"{size} ranks" if size else "several ranks"
    hint = f"started by an MPI launcher with {ranks} ({announced})"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            f"{hint}, but mpi4py is not installed; install the 'mpi' extra: "
            "pip install 'plaingrad[mpi]'"
        ) from None
    try:
        from .. import distributed as dist
    except ImportError as error:
        raise MissingExtraError(
            f"{hint}, but this plaingrad has no plaingrad.distributed ({error})"
        ) from None
    if not dist.is_initialized():
        dist.init_process_group(backend="mpi")
    joined = dist.get_world_size()
    if size > 1 and joined == 1:
        # e.g. Open MPI's mpirun with mpi4py on the MPICH wheel: each process
        # would train alone and write the same run folder
        raise MissingExtraError(
            f"{hint}, but MPI sees a world of one: the launcher is not the "
            "MPI library mpi4py was built with; start the command with the "
            "mpiexec of the 'mpi' extra (pip install 'plaingrad[mpi]')"
        )
    return World(dist.get_rank(), joined, announced)


def current() -> World | None:
    """The world ``start_world`` joined in this process, if any."""
    return _current["world"]


def reports_errors() -> bool:
    """Whether this process prints the command's error line: always on one
    process; under a launcher, rank 0, or a rank whose error is its own."""
    world = current()
    if world is None:
        return launch_size() is None or launch_rank() == 0
    return world.speaks
