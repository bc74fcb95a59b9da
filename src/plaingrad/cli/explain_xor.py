"""``plaingrad explain xor``: one training step of the backpropagation seed's
network, with every number shown so that a reader can check it by hand.

The network is the seed program's (``examples/seed_backprop.py``):
Linear(2, 8), ReLU, Linear(8, 1) on the four XOR points, mean squared error,
Adam with lr 0.01 (or SGD). The step is run by plaingrad as a user would run
it; the forward values are read by module hooks, the backward pass is told by
``explain.narrate`` and the update is read back from the parameters and the
optimizer's state, then written out as the formulas that produced it.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import float32 as _float32
from .. import manual_seed, nn, optim, tensor
from ..explain import narrate
from ..explain._story_render import array_text, number, shape_text

DEFAULT_LR = {"adam": 0.01, "sgd": 0.1}


@dataclass
class Quantity:
    """One number (or array) of the walkthrough: ``name = formula``."""

    section: str  # "forward", "update"
    name: str
    formula: str
    values: np.ndarray
    # one entry worked out by hand, with its numbers ("for example ...")
    example: str | None = None


@dataclass
class Walkthrough:
    optimizer: str
    lr: float
    seed: int
    forward: list[Quantity]
    story: Any  # explain.Story of the backward pass
    update: list[Quantity]
    notes: dict[str, str]


def walkthrough(
    optimizer: str = "adam", lr: float | None = None, seed: int = 0
) -> Walkthrough:
    """Run one training step of the seed network and record every value."""
    if optimizer not in DEFAULT_LR:
        raise ValueError(
            f"explain xor: `optimizer` must be 'adam' or 'sgd', got {optimizer!r}"
        )
    lr = DEFAULT_LR[optimizer] if lr is None else float(lr)
    manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=_float32)
    y = tensor([[0], [1], [1], [0]], dtype=_float32)
    criterion = nn.MSELoss()
    if optimizer == "adam":
        opt: Any = optim.Adam(model.parameters(), lr=lr)
    else:
        opt = optim.SGD(model.parameters(), lr=lr)
    params = dict(model.named_parameters())

    def q(name: str, formula: str, value: Any) -> Quantity:
        data = value.detach().numpy() if hasattr(value, "detach") else value
        return Quantity("forward", name, formula, np.array(data, copy=True))

    forward = [
        q("input", "X, the four corners of the unit square", x),
        q("target", "y, their XOR", y),
        q("0.weight", "the first layer's weights, as initialised", params["0.weight"]),
        q("0.bias", "the first layer's biases", params["0.bias"]),
    ]
    with narrate(model=model, values=None) as story:
        z = model[0](x)
        h = model[1](z)
        out = model[2](h)
        loss = criterion(out, y)
        opt.zero_grad()
        loss.backward()
    forward += [
        q("0.linear", "input @ 0.weightᵀ + 0.bias", z),
        q("1.relu", "max(0.linear, 0)", h),
        q("2.weight", "the second layer's weights", params["2.weight"]),
        q("2.bias", "the second layer's bias", params["2.bias"]),
        q("2.linear", "1.relu @ 2.weightᵀ + 2.bias, the predictions", out),
        q("loss", "mean((2.linear - target)²), the mean squared error", loss),
    ]
    start = {name: p.detach().numpy().copy() for name, p in params.items()}
    grads = {name: p.grad.numpy().copy() for name, p in params.items()}
    with np.errstate(all="ignore"):  # an overflow is reported below, once
        opt.step()
    update: list[Quantity] = []
    group = opt.param_groups[0]
    for name, p in params.items():
        after = p.detach().numpy().copy()
        if not np.isfinite(after).all():
            raise ValueError(
                f"explain xor: with --lr {lr:g} the update of {name} overflows "
                "float32 (it is no longer finite); choose a smaller --lr"
            )
        w, g = start[name], grads[name]
        at = np.unravel_index(int(np.argmax(np.abs(g))), g.shape)  # largest |grad|
        where = f"{name}[{', '.join(map(str, at))}]"
        if optimizer == "sgd":
            example = (
                f"for example {where}: {number(w[at])} - {lr:g} * ({number(g[at])}) "
                f"= {number(after[at])}"
            )
            update.append(
                Quantity(
                    "update",
                    f"{name}_new",
                    f"{name} - {lr:g} * {name}.grad",
                    after,
                    example,
                )
            )
            continue
        b1, b2 = group["betas"]
        state = opt.state[p]
        m = state["exp_avg"].numpy().copy()
        v = state["exp_avg_sq"].numpy().copy()
        step = int(float(state["step"]))
        m_hat = m / (1 - b1**step)
        v_hat = v / (1 - b2**step)
        eps = group["eps"]
        example = (
            f"for example {where}: grad {number(g[at])}, m {number(m[at])}, "
            f"v {number(v[at])}, m_hat {number(m_hat[at])}, v_hat "
            f"{number(v_hat[at])}, so {number(w[at])} - {lr:g} * "
            f"({number(m_hat[at])}) / (sqrt({number(v_hat[at])}) + {eps:g}) = "
            f"{number(after[at])}"
        )
        update += [
            Quantity(
                "update", f"{name}.m", f"{b1:g} * 0 + {1 - b1:g} * {name}.grad", m
            ),
            Quantity(
                "update", f"{name}.v", f"{b2:g} * 0 + {1 - b2:g} * {name}.grad²", v
            ),
            Quantity(
                "update", f"{name}.m_hat", f"{name}.m / (1 - {b1:g}^{step})", m_hat
            ),
            Quantity(
                "update", f"{name}.v_hat", f"{name}.v / (1 - {b2:g}^{step})", v_hat
            ),
            Quantity(
                "update",
                f"{name}_new",
                f"{name} - {lr:g} * {name}.m_hat / (sqrt({name}.v_hat) + {eps:g})",
                after,
                example,
            ),
        ]
    if optimizer == "sgd":
        rule = (
            f"SGD with lr {lr:g}: each weight moves against its gradient, "
            "w_new = w - lr * grad."
        )
    else:
        b1, b2 = group["betas"]
        rule = (
            f"Adam with lr {lr:g}, betas ({b1:g}, {b2:g}), eps {group['eps']:g}, "
            "step 1: m and v are running averages of the gradient and of its "
            "square (both start at 0); m_hat and v_hat undo their bias towards "
            "0; each weight moves by lr * m_hat / (sqrt(v_hat) + eps). On this "
            "first step m_hat = grad and v_hat = grad², so every weight with a "
            "nonzero gradient moves by almost exactly lr, against the sign of "
            "its gradient."
        )
    notes = {
        "network": "Linear(2, 8), ReLU, Linear(8, 1), mean squared error "
        f"(the backpropagation seed's network, initialised with seed {seed})",
        "update": rule,
    }
    return Walkthrough(optimizer, lr, seed, forward, story, update, notes)


# ------------------------------------------------------------ renderings


def _quantity_text(item: Quantity, width: int) -> list[str]:
    """``name = formula, shape S:`` at 2 columns (continued at 4), then the
    entries at 6."""
    shape = shape_text(item.values.shape).replace(" ", "\xa0")  # kept whole
    head = f"{item.name} = {item.formula}, shape {shape}:"
    lines = textwrap.wrap(head, width, initial_indent="  ", subsequent_indent="    ")
    lines = [line.replace("\xa0", " ") for line in lines]
    rows = array_text(item.values, width - 6).splitlines()
    lines += ["      " + row for row in rows]
    if item.example is not None:  # at 4 columns, continued at 4
        lines += textwrap.wrap(
            item.example, width, initial_indent="    ", subsequent_indent="    "
        )
    return lines


def _wrap_plain(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False)


def to_text(walk: Walkthrough, width: int = 100) -> str:
    lines = _wrap_plain(
        "One training step of the XOR network, every number shown.", width
    )
    lines.append("")
    lines += textwrap.wrap(f"Network: {walk.notes['network']}.", width)
    lines += ["", "Forward pass"]
    for item in walk.forward:
        lines += _quantity_text(item, width)
    lines += ["", walk.story.to_text(width=width, expand=True).rstrip(), ""]
    lines += ["Update"]
    lines += textwrap.wrap(
        walk.notes["update"], width, initial_indent="  ", subsequent_indent="  "
    )
    for item in walk.update:
        lines += _quantity_text(item, width)
    return "\n".join(lines) + "\n"


def to_markdown(walk: Walkthrough) -> str:
    out = [
        "# One training step of the XOR network",
        "",
        f"Network: {walk.notes['network']}.",
        "",
    ]

    def block(items: list[Quantity]) -> None:
        for item in items:
            shape = shape_text(item.values.shape)
            out.append(f"- `{item.name}` = {item.formula}, shape {shape}")
            rows = array_text(item.values).splitlines()
            out.extend(["", "  ```", *("  " + r for r in rows), "  ```"])
            if item.example is not None:
                out.extend(["", f"  {item.example}", ""])

    out += ["## Forward pass", ""]
    block(walk.forward)
    out += [
        "",
        walk.story.to_markdown(expand=True),
        "## Update",
        "",
        walk.notes["update"],
        "",
    ]
    block(walk.update)
    return "\n".join(out) + "\n"


def to_html(walk: Walkthrough) -> str:
    e = html.escape

    def block(items: list[Quantity]) -> str:
        return "".join(
            f"<p><code>{e(item.name)}</code> = {e(item.formula)}, shape "
            f"{e(shape_text(item.values.shape))}</p>"
            f"<pre>{e(array_text(item.values))}</pre>"
            + ("" if item.example is None else f"<p>{e(item.example)}</p>")
            for item in items
        )

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>One training step of the XOR network</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}"
        "pre{background:#f4f5f7;padding:4px 6px}</style></head><body>"
        "<h1>One training step of the XOR network</h1>"
        f"<p>Network: {e(walk.notes['network'])}.</p><h2>Forward pass</h2>"
        f"{block(walk.forward)}<h2>Backward pass</h2>{walk.story.to_html(expand=True)}"
        f"<h2>Update</h2><p>{e(walk.notes['update'])}</p>{block(walk.update)}"
        "</body></html>\n"
    )


def to_json(walk: Walkthrough) -> str:
    def gradient(g: Any) -> Any:
        if g is None:
            return None
        return {
            "name": g.name,
            "shape": list(g.shape),
            "norm": g.norm,
            "values": g.values.tolist(),
        }

    def quantity(item: Quantity) -> dict:
        return {
            "section": item.section,
            "name": item.name,
            "formula": item.formula,
            "shape": list(item.values.shape),
            "values": item.values.tolist(),
            "example": item.example,
        }

    steps = [
        {
            "value": s.value,
            "op": s.op,
            "node": s.node,
            "inputs": s.inputs,
            "formula": s.formula,
            "grad_in": gradient(s.grad_in),
            "grads_out": [gradient(g) for g in s.grads_out],
        }
        for s in walk.story
    ]
    doc = {
        "optimizer": walk.optimizer,
        "lr": walk.lr,
        "seed": walk.seed,
        "notes": walk.notes,
        "forward": [quantity(i) for i in walk.forward],
        "backward": steps,
        "update": [quantity(i) for i in walk.update],
    }
    return json.dumps(doc, indent=1) + "\n"


RENDER = {"text": None, "markdown": to_markdown, "html": to_html, "json": to_json}


def render(walk: Walkthrough, fmt: str, width: int = 100) -> str:
    if fmt == "text":
        return to_text(walk, width)
    return RENDER[fmt](walk)


__all__ = ["Quantity", "Walkthrough", "render", "walkthrough"]
