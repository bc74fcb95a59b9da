"""Devices. plaingrad computes on the CPU; ``'cuda'`` is refused clearly.

``device('cpu')``, ``device=`` arguments and ``.to(device)`` are accepted so that
PyTorch programs written for either device run unchanged on the CPU.
"""

from __future__ import annotations

from typing import Any


class NoGPUBackendError(RuntimeError):
    """Raised when a program asks for a GPU device."""


class device:
    """A device such as ``device('cpu')``; ``device('cuda')`` can be named but
    not used.

    Args:
        type: ``'cpu'``, ``'cuda'``, ``'cuda:0'``, ``'mps'`` ..., or a device.
        index: optional device index.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu', got {type!r}")
        name, _, idx = type.partition(":")
        if idx:
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if name not in ("cpu", "cuda", "mps", "xpu", "meta"):
            raise RuntimeError(
                "Expected one of cpu, cuda, mps, xpu, meta device type at start "
                f"of device string: {type}"
            )
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def check_device(dev: Any, op: str) -> None:
    """Accept None or any spelling of the CPU; raise for anything else."""
    if dev is None:
        return
    if isinstance(dev, int):
        dev = f"cuda:{dev}"
    name = dev.type if isinstance(dev, device) else device(dev).type
    if name != "cpu":
        raise NoGPUBackendError(
            f"{op}: device '{dev}' is not available: plaingrad has no GPU "
            "backend (it computes with NumPy on the CPU). Use device='cpu', or "
            "pick it with 'cuda' if plaingrad.cuda.is_available() else 'cpu'."
        )
