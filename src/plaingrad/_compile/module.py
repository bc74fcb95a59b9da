"""``OptimizedModule``: what ``compile`` returns for an ``nn.Module``."""

from __future__ import annotations

from typing import Any

from ..nn.module import Module


class OptimizedModule(Module):
    """Wraps ``_orig_mod`` as PyTorch's compiled module does: its parameters
    and state dict are the wrapped module's (keys prefixed ``_orig_mod.``), and
    a call records, then replays, the wrapped module's ``forward``."""

    def __init__(self, module: Module, *, fullgraph: bool) -> None:
        super().__init__()
        from . import CompiledFunction

        self._orig_mod = module
        # the module's __call__, so that its hooks run (and, being part of
        # the guard, keep calls eager while there are any)
        self.__dict__["_compiled"] = CompiledFunction(
            module,
            fullgraph=fullgraph,
            modules=list(module.modules()),
        )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled(*args, **kwargs)

    def explain(self) -> list[str]:
        """One line per guard key: replayed, or why not."""
        return self._compiled.explain()

    def __getattr__(self, name: str) -> Any:
        # only names the wrapper lacks arrive here: the wrapped module's
        modules = self.__dict__.get("_modules")
        if modules is None or "_orig_mod" not in modules:
            raise AttributeError(name)
        return getattr(modules["_orig_mod"], name)
