"""``plaingrad.utils``: data loading (``utils.data``), as in PyTorch."""


def __getattr__(name: str) -> object:
    # ``plaingrad.utils.data`` loads on first use (about 25 ms: the loaders,
    # samplers and worker processes), as ``torch.utils.data`` reaches it.
    if name == "data":
        import importlib

        return importlib.import_module(".data", __name__)
    raise AttributeError(f"module 'plaingrad.utils' has no attribute {name!r}")


__all__ = ["data"]
