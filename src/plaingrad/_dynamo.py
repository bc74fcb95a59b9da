"""``torch._dynamo``: the two names scripts reach for (``reset`` and
``list_backends``); plaingrad records and replays without Dynamo."""

from __future__ import annotations

from ._compile import _BACKENDS, reset

__all__ = ["list_backends", "reset"]


# the ones PyTorch 2.13 lists unless asked for its debug and experimental ones
_LISTED = ["cudagraphs", "inductor", "openxla", "tvm"]


def list_backends(exclude_tags: tuple | None = ("debug", "experimental")) -> list:
    """The backend names ``compile`` accepts (all of them run the same way)."""
    return list(_LISTED) if exclude_tags else sorted(_BACKENDS)
