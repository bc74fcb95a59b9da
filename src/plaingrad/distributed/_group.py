"""The default process group: init, rank and size, waiting with a deadline.

``init_process_group`` imports mpi4py (which initialises MPI), duplicates
``MPI.COMM_WORLD`` into the group's own communicator, limits the BLAS threads
and installs the exception hook that aborts the job when this rank fails.
Every wait on an MPI request goes through ``ProcessGroup.wait``, which polls
the request until it completes or the group's timeout passes.

A rank that leaves says so. MPI has no notion of a partner gone: a rank that
ends its process (``sys.exit``, a return from ``main``, Ctrl-C caught by the
program) while another waits for it in a collective would leave that one
waiting for the whole timeout. So every rank keeps a receive posted from each
other rank on a communicator of its own, and a rank that leaves (at
``destroy_process_group``, or at interpreter exit with the group still up)
sends each of them a one-byte notice; at exit it also waits for theirs (up to
the timeout, quietly), as MPI's finalize would. A rank waiting in a
collective sees the notice and, when the collective has still not completed
a few seconds later (the partner may have finished its share just before
leaving), raises an error naming the rank that left, which ends the job
through the exception hook. A rank that would leave with a collective of its
own unfinished ends the job instead (MPI would go on writing into its
buffers, and the partners wait for it).
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import importlib.util
import os
import sys
import time
from typing import Any

_NOT_INITIALIZED = (
    "Default process group has not been initialized, please make sure to call "
    "init_process_group."
)
_DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default_pg_timeout
# seconds; shortens the default timeout (the test suite's failure checks)
TIMEOUT_ENV = "PLAINGRAD_DISTRIBUTED_TIMEOUT"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# how long a wait tests its request back to back before it starts to sleep
_SPIN_SECONDS = 0.005
# how long a collective may still complete after a partner's leaving notice
_GRACE_SECONDS = 3.0
# how often a sleeping wait looks for leaving notices
_NOTICE_PERIOD = 0.05
_NOTICE_TAG = 7
_OTHER_BACKENDS = ("gloo", "nccl", "ucc", "xccl", "cuda:nccl", "cpu:gloo")

_default: ProcessGroup | None = None


class ProcessGroup:
    """The ranks of one job and the communicator they share.

    Made by ``init_process_group``; ``group.WORLD`` is the default one.
    """

    def __init__(
        self, comm: Any, timeout: datetime.timedelta, mpi: Any, backend: str
    ) -> None:
        self.comm = comm
        self.mpi = mpi
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self.timeout = timeout
        self.backend = backend
        self.previous_threads: int | None = None
        self.excepthook: Any = None
        # leaving notices (module docstring): their communicator, the one-byte
        # receive posted from each other rank (request, buffer), and when each
        # notice was seen
        self.notices: Any = None
        self.notices_from: dict[int, tuple[Any, Any]] = {}
        self.left: dict[int, float] = {}
        # collectives started and not known to be finished (async Work, DDP
        # buckets, a wait cut short by an exception), each with whatever keeps
        # its buffers alive: {id(request): (op, request, keep)}. A rank cannot
        # leave cleanly with one unfinished: the partners wait for it.
        self.started: dict[int, tuple[str, Any, Any]] = {}
        # the exit status of the job when this rank leaves with one unfinished
        # (130: interrupted, which the program has already said)
        self.abort_status = 1
        self.destroyed = False  # destroy_process_group has freed the communicator

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def wait(
        self, request: Any, op: str, timeout: Any = None, keep: Any = None
    ) -> None:
        """Wait for ``request`` (an MPI request of collective ``op``); raise a
        RuntimeError once ``timeout`` (the group's by default) has passed.
        ``keep`` (the request's buffers) stays alive, with the request, when
        the wait ends in an exception, since MPI may still write into it."""
        if not request.Test():
            try:
                self._wait(request, op, timeout)
            except BaseException:
                if id(request) not in self.started:  # a Work keeps its own
                    self.track(op, request, keep)
                raise
        if self.started:
            self.started.pop(id(request), None)

    def track(self, op: str, request: Any, keep: Any) -> None:
        """Remember a started collective until ``done`` (or a finished wait)."""
        self.started[id(request)] = (op, request, keep)

    def done(self, request: Any) -> None:
        self.started.pop(id(request), None)

    def _wait(self, request: Any, op: str, timeout: Any) -> None:
        limit = self.timeout if timeout is None else timeout
        now = time.monotonic()
        deadline = now + limit.total_seconds()
        # MPICH moves a nonblocking collective on only inside MPI calls, so
        # first test back to back for a moment (yielding the core to any
        # rank that shares it): a partner that is nearly there answers within
        # microseconds, not after a sleep
        spin_until = now + _SPIN_SECONDS
        while now < spin_until:
            if request.Test():
                return
            os.sched_yield()
            now = time.monotonic()
        # then short sleeps that grow: little CPU taken from the other ranks
        # while a slow one computes
        pause = 2e-5
        next_look = now
        while not request.Test():
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(
                    f"{op}: rank {self._rank} of {self._size} timed out after "
                    f"{limit} waiting for the other ranks (the process group's "
                    "timeout: init_process_group(timeout=...), or "
                    f"{TIMEOUT_ENV} in seconds); another rank may have failed, "
                    f"hung, or not called {op}"
                )
            if now >= next_look:
                next_look = now + _NOTICE_PERIOD
                self._check_partners(op, now)
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

    def _check_partners(self, op: str, now: float) -> None:
        """Raise when a rank that left did so more than the grace ago."""
        for other, (notice, _) in self.notices_from.items():
            if other not in self.left and notice.Test():
                self.left[other] = now
        for other, since in sorted(self.left.items()):
            if now - since > _GRACE_SECONDS:
                raise RuntimeError(
                    f"{op}: rank {other} of {self._size} has left the job (its "
                    "process ended or it called destroy_process_group) while "
                    f"rank {self._rank} waited for it in {op}; every rank must "
                    "call the same collectives"
                )

    def watch_partners(self) -> None:
        """Post the leaving-notice receives (see the module docstring)."""
        if self._size == 1:
            return
        import numpy as np

        self.notices = self.comm.Dup()
        for other in range(self._size):
            if other != self._rank:
                buffer = np.zeros(1, dtype=np.uint8)
                notice = self.notices.Irecv(buffer, source=other, tag=_NOTICE_TAG)
                self.notices_from[other] = (notice, buffer)

    def leave(self, at_exit: bool) -> None:
        """Leave the job: end it at once if a collective of this rank is
        unfinished; else send every other rank its notice and, at exit, wait
        (up to the group's timeout, as MPI's finalize would) for theirs."""
        unfinished = [
            op for op, request, _ in self.started.values() if not request.Test()
        ]
        self.started.clear()
        if unfinished and self._size > 1:
            if self.abort_status == 130:
                # interrupted: the program has said so, and a rank that ends
                # without MPI's finalize makes the launcher end the others
                sys.stderr.flush()
                os._exit(130)
            _abort(
                self.mpi,
                f"plaingrad.distributed: rank {self._rank} of {self._size} is "
                f"leaving with {unfinished[0]} unfinished; ending the job",
                self.abort_status,
            )
        if self.notices is None:
            return
        import numpy as np

        one = np.ones(1, dtype=np.uint8)
        for other, received in self.notices_from.items():
            _farewells.append(
                (self.notices.Isend(one, dest=other, tag=_NOTICE_TAG), one)
            )
            _farewells.append(received)
        self.notices = None
        self.notices_from = {}
        if at_exit:
            _await_farewells(self.mpi, self.timeout)

    def __repr__(self) -> str:
        return (
            f"ProcessGroup(backend={self.backend!r}, rank={self._rank}, "
            f"size={self._size})"
        )


class _WorldMeta(type):
    @property
    def WORLD(cls) -> ProcessGroup | None:  # noqa: N802  (PyTorch's name)
        return _default


class group(metaclass=_WorldMeta):  # noqa: N801  (PyTorch's name)
    """``group.WORLD``: the default process group (None before init)."""


class GroupMember(metaclass=_WorldMeta):
    """``GroupMember.WORLD``: the default process group (None before init)."""

    NON_GROUP_MEMBER = -100


def is_available() -> bool:
    """True when collectives can run: mpi4py (the ``mpi`` extra) is installed."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _default is not None


def default_group(group: Any = None, op: str = "") -> ProcessGroup:
    """The default group; PyTorch's ValueError before init, or for any other
    ``group`` (``new_group`` is not implemented)."""
    if _default is None:
        raise ValueError(_NOT_INITIALIZED)
    if group is not None and group is not _default:
        # PyTorch's ValueError for a group it does not know; here every group
        # but the default is unknown, since new_group is not implemented yet
        raise ValueError(
            f"{op or 'plaingrad.distributed'}: Process group {group!r} is not "
            "initialized in the world group map; only the default group "
            "(group=None or group.WORLD) exists (new_group is not implemented)"
        )
    return _default


def get_rank(group: Any = None) -> int:
    """This process's rank in the group, 0 .. world size - 1."""
    return default_group(group, "get_rank").rank()


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return default_group(group, "get_world_size").size()


def get_backend(group: Any = None) -> str:
    """The group's backend: ``"mpi"``."""
    return default_group(group, "get_backend").backend


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: datetime.timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Join the job that ``mpiexec`` started, as the default process group.

    Rank and world size come from the MPI launcher; a process started without
    one is a world of one. ``init_method``, ``store``, ``group_name`` and
    ``pg_options`` are accepted for PyTorch's signature and not used (the MPI
    launcher has already connected the ranks).

    Args:
        backend: ``"mpi"`` (the default; PyTorch's other backends are not
            available).
        init_method: ignored (MPI needs no rendezvous address).
        timeout: how long a collective waits for the other ranks before it
            raises (default 30 minutes, as PyTorch; the environment variable
            ``PLAINGRAD_DISTRIBUTED_TIMEOUT``, in seconds, changes the default).
        world_size: -1, or the number of ranks the launcher started.
        rank: -1, or this process's rank as the launcher numbered it.

    Example:
        >>> import plaingrad.distributed as dist
        >>> dist.init_process_group("mpi")  # doctest: +SKIP
    """
    global _default
    if _default is not None:
        raise ValueError("trying to initialize the default process group twice!")
    backend = _check_backend(backend)
    timeout = _check_timeout(timeout)
    for name, value in (("world_size", world_size), ("rank", rank)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(
                f"init_process_group: `{name}` must be an int, got "
                f"{type(value).__name__} {value!r}"
            )
    if device_id is not None and str(device_id) != "cpu":
        raise ValueError(
            f"init_process_group: device_id={device_id!r}, but plaingrad runs on "
            "the CPU only (leave device_id=None)"
        )
    mpi = _import_mpi()
    world = mpi.COMM_WORLD
    _check_launcher(world_size, world.Get_size(), rank, world.Get_rank())
    comm, request = world.Idup()
    pg = ProcessGroup(comm, timeout, mpi, backend)
    pg.wait(request, "init_process_group")
    pg.watch_partners()
    pg.excepthook = _install_excepthook(pg)
    pg.previous_threads = _limit_threads(pg)
    _default = pg
    global _leave_at_exit
    if not _leave_at_exit:
        _leave_at_exit = True
        atexit.register(_leave_default, os.getpid())


_leave_at_exit = False
# (request, buffer) of every leaving notice sent, and of the receives of the
# other ranks' notices to groups already left: finished at exit
_farewells: list[tuple[Any, Any]] = []


def _leave_default(pid: int) -> None:
    """At interpreter exit (before MPI's finalize): a group still up leaves,
    and the notices of groups left before are seen through. Not in a forked
    child (a DataLoader worker that exits through ``sys.exit`` would
    otherwise speak for its parent)."""
    if os.getpid() != pid:
        return
    if _default is not None:
        _default.leave(at_exit=True)
    elif _farewells:
        from mpi4py import MPI

        _await_farewells(MPI, _DEFAULT_TIMEOUT)


def _await_farewells(mpi: Any, timeout: datetime.timedelta) -> None:
    """Wait, up to ``timeout``, until every notice sent has gone and every
    other rank's has come (a rank may work on long after its last
    collective: nothing is said if it is not done by then)."""
    requests = [request for request, _ in _farewells]
    deadline = time.monotonic() + timeout.total_seconds()
    try:
        while not mpi.Request.Testall(requests) and time.monotonic() < deadline:
            time.sleep(1e-3)
    except KeyboardInterrupt:
        # Ctrl-C while waiting at exit: end now, without MPI's finalize (the
        # launcher ends the other ranks), rather than finalize with the
        # notices in flight; the program has already said it was interrupted
        sys.stderr.flush()
        os._exit(130)
    _farewells.clear()


def _abort(mpi: Any, message: str, status: int) -> None:
    """Print ``message`` and end the whole job with ``status``."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        # MPICH's launcher forwards output through a proxy that drops what
        # it has not passed on when the abort kills the job: give it time
        time.sleep(0.25)
    finally:
        mpi.COMM_WORLD.Abort(status)
        os._exit(status)  # MPICH's Abort may return before the launcher acts


def destroy_process_group(group: Any = None) -> None:
    """Leave the default group: restore the exception hook and the BLAS
    threads as they were; ``init_process_group`` may be called again."""
    global _default
    pg = default_group(group, "destroy_process_group")
    _default = None
    pg.leave(at_exit=False)
    if sys.excepthook is pg.excepthook:
        sys.excepthook = pg.excepthook.previous
    if pg.previous_threads is not None:
        from ..threads import set_num_threads

        set_num_threads(pg.previous_threads)
    pg.comm.Free()
    pg.destroyed = True


def _check_backend(backend: Any) -> str:
    if backend is None:
        return "mpi"
    if not isinstance(backend, str):
        raise TypeError(
            f"init_process_group: `backend` must be a str, got {type(backend).__name__}"
        )
    name = backend.lower()
    if name == "mpi":
        return name
    if name in _OTHER_BACKENDS:
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available in plaingrad; "
            "use backend='mpi' and launch with mpiexec"
        )
    raise ValueError(
        f"init_process_group: Unknown backend type {backend!r} (plaingrad has "
        "backend='mpi')"
    )


def _check_timeout(timeout: Any) -> datetime.timedelta:
    if timeout is None:
        seconds = os.environ.get(TIMEOUT_ENV)
        if not seconds:
            return _DEFAULT_TIMEOUT
        try:
            return datetime.timedelta(seconds=float(seconds))
        except ValueError:
            raise ValueError(
                f"init_process_group: {TIMEOUT_ENV} must be a number of seconds, "
                f"got {seconds!r}"
            ) from None
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(
            "init_process_group: Expected timeout argument to be of type "
            f"datetime.timedelta, got {type(timeout).__name__}"
        )
    if timeout.total_seconds() <= 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout}")
    return timeout


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise RuntimeError(
            "init_process_group: backend 'mpi' needs mpi4py, which is not "
            f'installed ({error}); install it with: pip install "plaingrad[mpi]" '
            "(mpi4py and the MPICH wheel, which brings mpiexec)"
        ) from None
    return MPI


def _check_launcher(world_size: int, size: int, rank: int, own: int) -> None:
    launched = os.environ.get("WORLD_SIZE", "")
    if size == 1 and launched.isdigit() and int(launched) > 1:
        raise RuntimeError(
            f"init_process_group: WORLD_SIZE={launched} says a launcher such as "
            "torchrun started this process as one of several, but MPI sees a "
            "world of one: plaingrad's backend is MPI, so start the script with "
            f"`mpiexec -n {launched} python SCRIPT` (under torchrun each copy "
            "would train alone)"
        )
    if world_size != -1 and world_size != size:
        raise ValueError(
            f"init_process_group: world_size={world_size}, but the MPI launcher "
            f"started {size} rank(s); with backend 'mpi' the launcher decides "
            "(leave world_size=-1, or launch with mpiexec -n "
            f"{world_size})"
        )
    if rank != -1 and rank != own:
        raise ValueError(
            f"init_process_group: rank={rank}, but the MPI launcher made this "
            f"process rank {own}; with backend 'mpi' the launcher decides "
            "(leave rank=-1)"
        )


def _install_excepthook(pg: ProcessGroup) -> Any:
    """Chain an exception hook that, after the usual traceback, names this
    rank and aborts the job: the other ranks would otherwise wait for it."""
    previous = sys.excepthook
    rank, size = pg.rank(), pg.size()

    def excepthook(kind: type, value: BaseException, traceback: Any) -> None:
        previous(kind, value, traceback)
        if size == 1:
            return
        _abort(
            pg.mpi,
            f"plaingrad.distributed: rank {rank} of {size} failed: "
            f"{kind.__name__}: {value}",
            1,
        )

    excepthook.previous = previous
    sys.excepthook = excepthook
    return excepthook


def _limit_threads(pg: ProcessGroup) -> int | None:
    """Give each rank on this host an equal share of its cores as BLAS
    threads (at least one), unless the user chose a thread count; returns
    the count before, to restore at ``destroy_process_group``."""
    import numpy as np

    # every rank takes part, so that the collective matches on all of them
    # (hash() of a str differs between processes: a digest does not)
    digest = hashlib.blake2b(pg.mpi.Get_processor_name().encode(), digest_size=8)
    host = np.frombuffer(digest.digest(), dtype=np.int64).copy()
    hosts = np.empty(pg.size(), dtype=np.int64)
    pg.wait(pg.comm.Iallgather(host, hosts), "init_process_group", keep=(host, hosts))
    if any(name in os.environ for name in _THREAD_VARS):
        return None
    from ..threads import get_num_threads, set_num_threads

    local = int((hosts == host[0]).sum())
    cores = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    # a launcher that pinned this rank to some cores has already shared them
    threads = usable if usable < cores else max(1, cores // local)
    previous = get_num_threads()
    set_num_threads(threads)
    return previous
