"""What ``narrate`` records: a ``Story`` of ``Step``s, each with the
``Gradient``s that flowed along its edges (see ``narrate.py``), and how the
steps group into modules and backward passes. Rendering is in
``_story_render.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Gradient", "Step", "Story"]


@dataclass
class Gradient:
    """A gradient on one edge: of the value ``name``, with its shape, norm
    and (for small tensors, see ``narrate(values=)``) its entries."""

    name: str
    shape: tuple
    norm: float
    values: np.ndarray | None = None


@dataclass
class Step:
    """One node of the backward pass (see the module docstring)."""

    index: int
    node: str  # the grad_fn's name, e.g. "AddmmBackward0"
    op: str  # short op name, "linear", or "leaf"
    value: str  # the name of the value this node produced
    module: str | None
    module_type: str | None
    inputs: list[str]
    words: str
    formula: str
    grad_in: Gradient
    grads_out: list[Gradient | None] = field(default_factory=list)
    # per input: does it need a gradient (is there a node to send it to)?
    needs: list[bool] = field(default_factory=list)
    # how many edges lead here (uses of the value), and, when more than one,
    # (consumer's value name, norm of its share) for each share that came
    uses: int = 1
    summed: list[tuple[str, float]] = field(default_factory=list)
    # (input name, input shape, output shape, dims summed over)
    broadcast: list[tuple[str, tuple, tuple, tuple]] = field(default_factory=list)
    pass_index: int = 1  # which backward pass of the block (from 1)
    # for a leaf that backward(inputs=...) leaves alone
    left_alone: bool = False

    @property
    def is_leaf(self) -> bool:
        return self.op == "leaf"


class Story:
    """What ``narrate`` saw: ``steps`` in the order the engine ran them, for
    every backward pass in the block. Render with ``to_text``,
    ``to_markdown`` or ``to_html`` (``str(story)`` is the text)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.passes = 0
        self.module_types: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Any:
        return iter(self.steps)

    def __getitem__(self, key: int | str) -> Step:
        """A step by position, or by the name of the value it produced."""
        if isinstance(key, str):
            for step in self.steps:
                if step.value == key:
                    return step
            raise KeyError(f"Story: no step produced a value named {key!r}")
        return self.steps[key]

    def __repr__(self) -> str:
        return f"Story({len(self.steps)} steps, {self.passes} backward pass(es))"

    def __str__(self) -> str:
        return self.to_text()

    def groups(self, expand: Any = ()) -> list[tuple[int, str | None, list[Step]]]:
        """The steps as ``(pass, module, steps)`` groups, in order of first
        appearance within each backward pass. A group is a top-level module
        (its first dotted part), or a finer one where a module inside it is
        named in ``expand``; a run of steps outside every module is one group
        named None."""
        wanted = [] if isinstance(expand, bool) else list(expand)
        order: list[tuple[int, str | None, list[Step]]] = []
        index: dict[tuple[int, str], int] = {}
        for step in self.steps:
            name = None if step.module is None else _group_of(step.module, wanted)
            if name is None:
                last = order[-1] if order else None
                if last and last[1] is None and last[0] == step.pass_index:
                    last[2].append(step)
                else:
                    order.append((step.pass_index, None, [step]))
                continue
            key = (step.pass_index, name)
            if key in index:
                order[index[key]][2].append(step)
            else:
                index[key] = len(order)
                order.append((step.pass_index, name, [step]))
        return order

    def to_text(
        self, width: int | None = None, expand: Any = "auto", max_steps: int = 40
    ) -> str:
        """Plain text, wrapped to ``width`` (default: the terminal's).

        ``expand``: True tells every step; False tells one summary per
        top-level module and per run of more than 10 steps outside modules;
        a module name or a list of them tells those modules step by step
        (and summarises the rest finely enough to leave them out); ``"auto"``
        is True when there are at most ``max_steps`` steps, else False.
        Several backward passes are told one after the other.
        """
        from ._story_render import render_text

        return render_text(self, width, expand, max_steps)

    def to_markdown(self, expand: Any = "auto", max_steps: int = 40) -> str:
        """Markdown: a heading and a list per step (or a table per module)."""
        from ._story_render import render_markdown

        return render_markdown(self, expand, max_steps)

    def to_html(self, expand: Any = "auto", max_steps: int = 40) -> str:
        """A self-contained HTML fragment (one ``<section>``, inline style, no
        script): modules as ``<details>`` blocks, open when expanded."""
        from ._story_render import render_html

        return render_html(self, expand, max_steps)


def _group_of(module: str, wanted: list[str]) -> str:
    """The coarsest prefix of ``module`` that has no wanted module strictly
    inside it."""
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if not any(w.startswith(prefix + ".") for w in wanted):
            return prefix
    return module
