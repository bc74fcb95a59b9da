"""What a ``plaingrad train`` run needs before it starts: a folder and memory.

A run must never train for minutes and then fail to save, nor leave a
half-made folder behind when it fails: ``check_output`` refuses a path that
cannot hold the run before anything starts, ``prepare_output`` makes the
folder and remembers which folders it created, and ``remove_output`` takes
them away again after a failed run. A folder the user already had, or one
that holds a checkpoint of the run, is never removed. A new run into a
folder first deletes the checkpoints an older run left there
(``remove_checkpoints``), as it replaces that run's files. ``check_memory``
refuses, up front, a network too big for the memory this process may use.
"""

from __future__ import annotations

import os
from typing import Any

from .data import TEST_ROWS
from .optimizers import buffers


class TrainingError(RuntimeError):
    """A run that cannot go on (its loss became NaN or infinite, or it cannot
    fit in memory)."""

    # What a monitored run had when it diverged (see train_classifier).
    result: dict[str, Any] | None = None


RUN_FILES = ("model.safetensors", "config.json", "metrics.json")
# The latest checkpoint (see checkpoint.py); checked like the run files, but
# never removed: it is what a failed or interrupted run leaves to resume from.
CHECKED_FILES = (*RUN_FILES, "checkpoint.safetensors")


def check_output(path: str) -> str:
    """Fail early when ``path`` cannot hold a run; create nothing.

    The folder must be (or be able to become) a folder, and none of the
    three files a run writes may be a folder, so that a run never trains for
    minutes and then fails to save.

    Returns:
        ``path`` unchanged.

    Raises:
        NotADirectoryError: when ``path``, or a folder above it, is a file.
        IsADirectoryError: when one of the run's files is a folder.
        PermissionError: when the folder, or a run file in it, is read-only.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"--output {path!r} is a file, not a folder")
    if os.path.isdir(path):
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"--output {path!r}: the folder is not writable")
        for name in CHECKED_FILES:
            target = os.path.join(path, name)
            if os.path.isdir(target):
                raise IsADirectoryError(
                    f"--output {path!r}: cannot write {name}: {target!r} is a "
                    "folder, not a file"
                )
            if os.path.exists(target) and not os.access(target, os.W_OK):
                raise PermissionError(
                    f"--output {path!r}: cannot write {name}: {target!r} is read-only"
                )
        return path
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(
            f"--output {path!r} cannot be a folder: a path above it is a file"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"--output {path!r}: cannot create the folder: {parent!r} is not writable"
        )
    return path


def prepare_output(path: str) -> list[str]:
    """Create the run folder ``path`` (and its parents) if needed.

    Returns:
        The folders this call created, deepest first (empty when ``path``
        already existed); give them to ``remove_output`` if the run fails.

    Raises:
        NotADirectoryError: when ``path``, or a folder above it, is a file.
        OSError: when the folder cannot be created for another reason.
    """
    check_output(path)
    missing = []
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            f"--output {path!r} cannot be a folder: a path above it is a file"
        ) from None
    except OSError as error:
        raise OSError(
            f"--output {path!r}: cannot create the folder ({error.strerror})"
        ) from None
    return missing


def remove_output(path: str, created: list[str]) -> None:
    """Undo ``prepare_output`` after a failed or interrupted run.

    Only folders the run created are touched: the run's own files in them are
    deleted, then the folders themselves while they are empty. A folder that
    existed before the run (``created`` empty) is left exactly as it is.
    """
    if not created:
        return
    for name in RUN_FILES:
        target = os.path.join(path, name)
        if os.path.isfile(target):
            os.remove(target)
    for folder in created:
        try:
            os.rmdir(folder)
        except OSError:  # not empty: something else put files there
            return


def remove_checkpoints(path: str) -> list[str]:
    """Delete the checkpoints an earlier run left in the run folder ``path``.

    A new run writes over the run files of a folder it is given; it must not
    leave the old run's ``checkpoint.safetensors`` and
    ``checkpoint-epoch-K.safetensors`` beside them, or a later ``--resume``
    would continue the old run over the new one's files. Only regular files
    with those names are touched.

    Returns:
        The names removed.
    """
    removed = []
    for name in sorted(os.listdir(path)):
        stale = name == "checkpoint.safetensors" or (
            name.startswith("checkpoint-epoch-") and name.endswith(".safetensors")
        )
        target = os.path.join(path, name)
        if stale and os.path.isfile(target) and not os.path.islink(target):
            os.remove(target)
            removed.append(name)
    return removed


def _memory_limit() -> int | None:
    """The bytes this process can hope to use, or None when unknown.

    The smallest of the machine's physical memory, the container's cgroup
    limit and the process's address-space limit (``ulimit -v``).
    """
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            text = handle.read().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def memory_needed(config: Any) -> int:
    """A rough lower bound, in bytes, of the memory training ``config`` takes.

    Every float32 parameter is held with its gradient, the optimizer's
    buffers (two for Adam, one for SGD with momentum; ``optimizers.buffers``)
    and one temporary of the update; every layer's output is held with its
    gradient and one temporary for each row of a batch (the test set is the
    largest batch, when accuracy is measured).
    """
    pairs = list(zip(config.layer_sizes[:-1], config.layer_sizes[1:]))
    parameters = sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)
    rows = max(config.batch_size, TEST_ROWS.get(config.dataset, 4))
    activations = rows * sum(config.layer_sizes[1:])
    return 4 * (parameters * (3 + buffers(config)) + activations * 3)


def _hidden(config: Any) -> str:
    """The hidden widths as --hidden takes them: ``"128 64"``."""
    return " ".join(map(str, config.layer_sizes[1:-1]))


def _gigabytes(count: int) -> str:
    return f"{count / 2**30:.1f} GiB"


def check_memory(config: Any) -> None:
    """Refuse a network that cannot fit in memory before anything starts.

    A run that does not fit would otherwise fail late with a MemoryError, or
    be killed by the operating system with no message at all.

    Raises:
        TrainingError: naming ``--hidden`` when ``memory_needed`` is more
            than the memory this process may use.
    """
    limit = _memory_limit()
    needed = memory_needed(config)
    if limit is not None and needed > limit:
        raise TrainingError(
            f"--hidden {_hidden(config)}: training the "
            f"{'-'.join(map(str, config.layer_sizes))} network needs at least "
            f"{_gigabytes(needed)} of memory, more than the {_gigabytes(limit)} "
            "available; try narrower hidden layers"
        )


def out_of_memory_message(config: Any) -> str:
    """The one-line report of a MemoryError while building or training."""
    return (
        f"--hidden {_hidden(config)}: ran out of memory building or "
        f"training the {'-'.join(map(str, config.layer_sizes))} network; try "
        "narrower hidden layers"
    )


def write_verdicts(folder: str, verdicts: list[dict[str, Any]]) -> str:
    """Write ``--monitor``'s verdicts to ``verdicts.json`` in ``folder``."""
    import json

    path = os.path.join(folder, "verdicts.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(verdicts, handle, indent=2)
        handle.write("\n")
    return path
