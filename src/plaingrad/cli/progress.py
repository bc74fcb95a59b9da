"""Epoch progress for the command line: a tqdm bar, or one plain line per epoch.

tqdm comes with the ``digits`` extra. Without it (or with ``--quiet`` turned
off but tqdm missing) the same numbers are written as one line per epoch, so
the command works, and says what it is doing, on a bare install.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())


class EpochProgress:
    """Reports each finished epoch; use as a context manager.

    Args:
        total: the number of epochs.
        desc: a short label shown before the bar (the dataset's name).
        enabled: False writes nothing at all (``--quiet``).
        stream: where to write (default stderr, leaving stdout for results).
        start: epochs already done (a resumed run); the bar starts there.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        start: int = 0,
    ) -> None:
        self.total = total
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(
                    total=total,
                    desc=desc,
                    unit="epoch",
                    file=self.stream,
                    initial=start,
                )

    def update(self, epoch: int, metrics: dict[str, float]) -> None:
        """Record that ``epoch`` (1-based) ended with these ``metrics``."""
        if not self.enabled:
            return
        if self._bar is not None:
            short = {name: f"{value:.4f}" for name, value in metrics.items()}
            self._bar.set_postfix(short, refresh=False)
            self._bar.update(1)
            return
        width = len(str(self.total))
        line = f"{self.desc} epoch {epoch:>{width}}/{self.total}  {_format(metrics)}"
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
