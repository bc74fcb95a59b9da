"""Random number streams: ``manual_seed``, ``Generator`` and the global stream.

Each ``Generator`` owns a NumPy PCG64 bit generator. Random functions take
``generator=``; without one they use ``default_generator``, which
``manual_seed`` reseeds. Streams are reproducible within plaingrad; they are not
bit-identical to PyTorch's.

The NumPy generator is built on a stream's first draw, not when it is created or
reseeded: ``numpy.random`` (with ``secrets`` and ``hashlib``) takes about 15 ms
to load, and ``import plaingrad`` need not pay for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Generator:
    """An independent random stream, as ``torch.Generator``.

    Example:
        >>> import plaingrad as torch
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.rand(2, generator=g)
        >>> b = torch.rand(2, generator=torch.Generator().manual_seed(0))
        >>> bool((a == b).all())
        True
    """

    _np: np.random.Generator  # built on the first draw, by ``__getattr__``

    def __init__(self, device: Any = "cpu") -> None:
        from .device import check_device

        check_device(device, "Generator")
        self._seed = 67280421310721  # PyTorch's default seed

    def __getattr__(self, name: str) -> Any:
        # Only reached while ``_np`` is unset: the stream for ``_seed`` is built
        # here once, then found as a plain attribute until the next reseed.
        if name != "_np" or "_seed" not in self.__dict__:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute {name!r}"
            )
        self._np = np.random.Generator(np.random.PCG64(self._seed))
        return self._np

    @property
    def device(self) -> Any:
        from .device import device

        return device("cpu")

    def manual_seed(self, seed: int) -> Generator:
        """Reseed this stream; returns the generator for chaining."""
        seed = int(seed)
        if seed < -(2**63) or seed >= 2**64:
            raise RuntimeError(
                f"manual_seed: seed must be within [-0x8000_0000_0000_0000, "
                f"0xffff_ffff_ffff_ffff], got {seed}"
            )
        self._seed = seed % 2**64
        self.__dict__.pop("_np", None)  # rebuilt from ``_seed`` on the next draw
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; return the new seed."""
        new = int(np.random.SeedSequence().entropy % 2**63)
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Any:
        """The stream's state as a uint8 tensor (pass it to ``set_state``)."""
        import json

        from .tensor import _wrap

        blob = json.dumps(
            {"seed": self._seed, "state": self._np.bit_generator.state}
        ).encode()
        return _wrap(np.frombuffer(blob, dtype=np.uint8).copy(), None)

    def set_state(self, state: Any) -> Generator:
        """Restore a state returned by ``get_state``."""
        import json

        data = getattr(state, "_data", state)
        try:
            saved = json.loads(np.asarray(data, dtype=np.uint8).tobytes())
            bit_generator = np.random.PCG64()
            bit_generator.state = saved["state"]
        except (ValueError, KeyError, TypeError) as error:
            raise RuntimeError(
                f"Generator.set_state: not a state from get_state() ({error})"
            ) from None
        self._seed = saved["seed"]
        self._np = np.random.Generator(bit_generator)
        return self


default_generator = Generator()


def _rng(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (or the global stream)."""
    if generator is None:
        return default_generator._np
    if not isinstance(generator, Generator):
        raise TypeError(
            f"expected `generator` to be a plaingrad.Generator, got "
            f"{type(generator).__name__}"
        )
    return generator._np


def manual_seed(seed: int) -> Generator:
    """Seed the global random stream; returns ``default_generator``.

    Example:
        >>> import plaingrad as torch
        >>> _ = torch.manual_seed(0); a = torch.randn(3)
        >>> _ = torch.manual_seed(0); bool((a == torch.randn(3)).all())
        True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Any:
    """The global stream's state as a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the global stream from ``get_rng_state()``."""
    default_generator.set_state(new_state)
