"""``plaingrad.utils``: data loading (``utils.data``), as in PyTorch."""

from . import data

__all__ = ["data"]
