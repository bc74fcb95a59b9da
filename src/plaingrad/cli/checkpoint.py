"""Checkpoints of ``plaingrad train``: save, find, load, and Ctrl-C.

A checkpoint is one ``plaingrad.save`` file (safetensors plus JSON, never
pickle) holding everything the rest of the run depends on:

- ``config``: the run's settings (``RunConfig`` as a dict);
- ``epoch`` and ``batch``: the epochs finished, and the batches of the next
  epoch already trained (0 at an epoch boundary);
- ``model``, ``optimizer``, ``scheduler``: their ``state_dict()``;
- ``shuffle_rng``: the state of the generator that shuffles the training
  set, taken before the current epoch drew its order, so a resumed epoch
  draws the same order and skips the batches already done;
- ``global_rng``: ``get_rng_state()``, the stream behind dropout and
  initialisation;
- ``history`` and ``partial``: the finished epochs' metrics, and the running
  sums of the epoch in progress, so the resumed epoch reports the same
  numbers;
- ``train_seconds``: time spent so far.

So a run resumed from a checkpoint takes exactly the steps the uninterrupted
run would have taken, and ends with bitwise the same weights and metrics.

Files in a run folder: ``checkpoint.safetensors`` is always the latest
checkpoint (``--resume FOLDER`` reads it), written again after the last epoch
of a run that keeps checkpoints or continues one; ``--checkpoint-every N``
also keeps ``checkpoint-epoch-K.safetensors`` after every N-th epoch. A new
run into a folder deletes the checkpoints an older run left there.

Ctrl-C: ``Interrupt`` turns the first SIGINT into a request that the training
loop honours after the batch in progress, by saving a checkpoint and
stopping; a second Ctrl-C (a second or more later, and not while a
checkpoint is being written) stops at once, without one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from .. import load, save

FORMAT = "plaingrad-train-checkpoint/1"
LATEST = "checkpoint.safetensors"


class CheckpointError(RuntimeError):
    """A --resume path that is not a usable checkpoint; one line for the user."""


def epoch_name(epoch: int) -> str:
    """The file ``--checkpoint-every`` keeps after ``epoch``."""
    return f"checkpoint-epoch-{epoch}.safetensors"


def find(path: str) -> str:
    """The checkpoint file ``--resume path`` means (a file, or a run folder).

    Raises:
        FileNotFoundError: when ``path`` does not exist, or is a folder
            without ``checkpoint.safetensors``.
    """
    if os.path.isdir(path):
        latest = os.path.join(path, LATEST)
        if not os.path.isfile(latest):
            raise FileNotFoundError(
                f"--resume {path!r}: the folder has no {LATEST} (a run writes one "
                "with --checkpoint-every N, or when Ctrl-C stops it)"
            )
        return latest
    if not os.path.exists(path):
        raise FileNotFoundError(f"--resume {path!r}: no such file or folder")
    return path


def write(path: str, state: dict[str, Any]) -> None:
    """Save ``state`` (the keys listed in this module's docstring) to ``path``."""
    save({"format": FORMAT, **state}, path)


def read(path: str) -> dict[str, Any]:
    """Load and check a checkpoint written by ``write``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointError: when it is not a ``plaingrad train`` checkpoint.
    """
    try:
        state = load(path)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"--resume {path!r}: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"--resume {path!r}: not a plaingrad train checkpoint (expected "
            f"format {FORMAT!r})"
        )
    missing = [
        key for key in ("config", "epoch", "model", "optimizer") if key not in state
    ]
    if missing:
        raise CheckpointError(
            f"--resume {path!r}: the checkpoint has no {', '.join(missing)}"
        )
    return state


class Interrupt:
    """Turns Ctrl-C into a request to checkpoint and stop; a context manager.

    Inside the ``with`` block, the first SIGINT sets ``requested`` and
    training goes on to the end of its batch. A second one stops at once
    (``KeyboardInterrupt``), except within ``GRACE`` seconds of the first (a
    burst of presses asks once) or while a checkpoint is being written
    (``saving``), which it must not cut short. Once a stop is requested,
    SIGINT stays ignored after the block: the command is on its way out, and
    a late press must not turn its last line into a traceback (``main``
    restores the handler when called as a function). Outside the block (or
    off the main thread, where signals cannot be caught, or in a process
    started with SIGINT ignored) Ctrl-C behaves as usual.
    """

    GRACE = 1.0

    def __init__(self) -> None:
        self.requested = False
        self._first = 0.0
        self._saving = 0
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first = True, now
        elif not self._saving and now - self._first >= self.GRACE:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """A block (writing a checkpoint) that Ctrl-C never interrupts."""
        self._saving += 1
        try:
            yield
        finally:
            self._saving -= 1

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            return self  # started with Ctrl-C ignored (nohup, `&`): keep it so
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            quiet = self.requested or exc[0] is KeyboardInterrupt
            signal.signal(signal.SIGINT, signal.SIG_IGN if quiet else self._previous)
            self._previous = None


class Interrupted(Exception):
    """Training stopped on Ctrl-C after saving the checkpoint at ``path``."""

    def __init__(self, path: str, epoch: int, batch: int) -> None:
        super().__init__(path)
        self.path = path
        self.epoch = epoch
        self.batch = batch
