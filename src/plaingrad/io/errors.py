"""The error raised for a file that plaingrad cannot read as a checkpoint."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A file that is truncated, corrupted or in a format plaingrad does not read.

    Raised by ``plaingrad.load``, ``load_safetensors`` and
    ``load_safetensors_metadata`` with a message that names the file and what
    is wrong with it. It is a ``ValueError``, so code that catches
    ``ValueError`` (as for ``torch.load``) keeps working.

    Example:
        >>> import io
        >>> import plaingrad as torch
        >>> from plaingrad.io import CheckpointError
        >>> try:
        ...     torch.load(io.BytesIO(b"not a checkpoint"))
        ... except CheckpointError as error:
        ...     print(type(error).__name__, isinstance(error, ValueError))
        CheckpointError True
    """


def a_or_an(word: str) -> str:
    """``word`` after the indefinite article its spelling calls for."""
    article = "an" if word[:1].lower() in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {word}"
