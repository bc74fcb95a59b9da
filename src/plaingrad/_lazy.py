"""Names a package loads on first use, so that ``import plaingrad`` stays short.

A package that defers some of its names builds its module ``__getattr__`` and
``__dir__`` (PEP 562) here from a table ``{name: submodule}``. The first access
to ``package.Name`` (or ``from package import Name``) imports the submodule and
stores the value in the package, so later accesses are plain global lookups and
cost nothing. Each of the package's own submodules in the table is also reachable by its
name (``plaingrad.nn.conv``), as it would be had the package imported it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def attach(
    module: str, homes: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module``, which loads each name of
    ``homes`` from the module given beside it, relative to ``module``'s package
    as in its own imports (``".conv"``, ``"..ops.conv"``)."""
    # the package's own submodules (".conv", not "..ops.conv") by their names;
    # an entry ``"rnn": ".rnn"`` defers only the submodule
    submodules = {h[1:]: h for h in homes.values() if h.rfind(".") == 0}
    homes = {name: h for name, h in homes.items() if h != f".{name}"}

    def anchor() -> str:
        return sys.modules[module].__package__ or module

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is not None:
            value = getattr(importlib.import_module(home, anchor()), name)
        elif name in submodules:
            value = importlib.import_module(submodules[name], anchor())
        else:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        setattr(sys.modules[module], name, value)  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module])) | set(homes) | set(submodules))

    return __getattr__, __dir__
