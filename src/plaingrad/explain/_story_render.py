"""Text, Markdown and HTML renderings of a ``Story`` (see ``narrate.py``).

All three say the same things from the same sentences (``_sentences``); they
differ in layout only. Numbers are printed with 6 significant digits.
Long stories are summarised per module unless expanded (``_expanded``).
"""

from __future__ import annotations

import html
import shutil
import textwrap
from typing import Any

import numpy as np

NUMBER = "{:.6g}"


def number(x: float) -> str:
    return NUMBER.format(float(x))


def array_text(values: np.ndarray, width: int = 100) -> str:
    """Entries as nested lists with 6 significant digits."""
    if values.ndim == 0:
        return number(values)
    return np.array2string(
        np.asarray(values, dtype=np.float64),
        max_line_width=width,
        separator=", ",
        threshold=10**6,
        formatter={"float_kind": number},
    )


def shape_text(shape: tuple) -> str:
    return str(tuple(shape))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _heading(step: Any) -> str:
    if step.is_leaf:
        return f"[{step.index + 1}] {step.value} (leaf)"
    return f"[{step.index + 1}] {step.value} = {step.op}({', '.join(step.inputs)})"


def _where(step: Any) -> str:
    if step.module is None:
        return ""
    kind = f" ({step.module_type})" if step.module_type else ""
    return f"in module {step.module}{kind}"


def _sentences(step: Any, width: int = 100) -> list[tuple[str, str | None]]:
    """(sentence, entries or None) pairs that describe one step; entries are
    laid out to fit ``width`` columns where they can."""
    out: list[tuple[str, str | None]] = []
    words = step.words[:1].upper() + step.words[1:]
    out.append((words + ".", None))
    if not step.is_leaf:
        out.append((f"Rule: {step.formula}", None))
    g = step.grad_in
    label = "Gradient" if step.is_leaf else "Gradient arriving"
    out.append(
        (
            f"{label}: ∂L/∂{g.name}, shape {shape_text(g.shape)}, "
            f"norm {number(g.norm)}.",
            None if g.values is None else array_text(g.values, width),
        )
    )
    if step.summed:
        parts = ", ".join(f"{name} (norm {number(n)})" for name, n in step.summed)
        out.append(
            (
                f"{g.name} fed {len(step.summed)} consumers, so this gradient is "
                f"the sum of their shares: {parts}.",
                None,
            )
        )
    for name, g_out in zip(step.inputs, step.grads_out):
        if g_out is None:
            out.append((f"Sends nothing to {name}: it needs no gradient.", None))
            continue
        out.append(
            (
                f"Sends to {name}: shape {shape_text(g_out.shape)}, norm "
                f"{number(g_out.norm)}.",
                None if g_out.values is None else array_text(g_out.values, width),
            )
        )
    for name, shape, out_shape, dims in step.broadcast:
        which = ", ".join(map(str, dims))
        out.append(
            (
                f"Broadcast undone: {name} of shape {shape_text(shape)} was "
                f"broadcast to {shape_text(out_shape)} in the forward pass, so "
                f"its gradient is summed over dim {which}.",
                None,
            )
        )
    return out


def _header(story: Any) -> str:
    passes = "" if story.passes <= 1 else f" ({story.passes} backward passes)"
    root = story.steps[0].value if story.steps else "nothing"
    return (
        f"Backward pass from {root}: {len(story.steps)} steps{passes}, in the "
        "order the engine ran them (a node runs once every consumer of its "
        f"value has sent its gradient). L is {root}; g is the gradient arriving "
        "at a node, ∂L/∂(its value)."
    )


def _expanded(story: Any, expand: Any, max_steps: int) -> Any:
    """A predicate: is the group named ``name`` told step by step?"""
    if expand == "auto":
        expand = len(story.steps) <= max_steps
    if expand is True or expand is False:
        return lambda name: expand or name is None
    if isinstance(expand, str):
        expand = [expand]
    try:
        wanted = [str(e) for e in expand]
    except TypeError:
        raise TypeError(
            "Story: `expand` must be True, False, 'auto' or a list of module "
            f"names, got {expand!r}"
        ) from None
    return lambda name: (
        name is None
        or any(
            name == w or name.startswith(w + ".") or w.startswith(name + ".")
            for w in wanted
        )
    )


def _summary(name: str, steps: list) -> str:
    """One line for a collapsed module."""
    made = {s.value for s in steps}
    ops = [s for s in steps if not s.is_leaf]
    params = [s for s in steps if s.is_leaf]
    kind = next((s.module_type for s in steps if s.module_type), None)
    head = f"module {name}" + (f" ({kind})" if kind else "")
    parts = [f"{_count(len(ops), 'op')}, {_count(len(params), 'parameter')}"]
    if ops:
        parts.append(f"gradient arriving norm {number(ops[0].grad_in.norm)}")
    if params:
        norms = ", ".join(f"{p.value} {number(p.grad_in.norm)}" for p in params)
        parts.append(f"parameter gradient norms: {norms}")
    sent = [
        (g.name, g.norm)
        for s in ops
        for g in s.grads_out
        if g is not None and g.name not in made
    ]
    if sent:
        parts.append(
            "sent on to " + ", ".join(f"{n} (norm {number(v)})" for n, v in sent)
        )
    return head + ": " + "; ".join(parts) + "."


# ------------------------------------------------------------------ text


def render_text(story: Any, width: int | None, expand: Any, max_steps: int) -> str:
    if width is None:
        width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    if not isinstance(width, int) or width < 40:
        raise ValueError(f"Story.to_text: `width` must be an int >= 40, got {width!r}")
    show = _expanded(story, expand, max_steps)
    lines = textwrap.wrap(_header(story), width)
    collapsed = False
    for name, steps in story.groups():
        lines.append("")
        if not show(name):
            collapsed = True
            lines.extend(
                textwrap.wrap(_summary(name, steps), width, subsequent_indent="    ")
            )
            continue
        for k, step in enumerate(steps):
            lines.extend(([""] if k else []) + _text_step(step, width))
    if collapsed:
        lines += [
            "",
            "(Modules are summarised; to_text(expand=True) tells every step.)",
        ]
    return "\n".join(lines) + "\n"


def _text_step(step: Any, width: int) -> list[str]:
    head = _heading(step)
    where = _where(step)
    lines = textwrap.wrap(head + (f"   {where}" if where else ""), width)
    # sentences at 4 columns (continued at 6), entries at 8
    for sentence, entries in _sentences(step, width - 8):
        lines.extend(
            textwrap.wrap(
                sentence, width, initial_indent="    ", subsequent_indent="      "
            )
        )
        if entries is not None:
            lines.extend("        " + row for row in entries.splitlines())
    return lines


# -------------------------------------------------------------- markdown


def render_markdown(story: Any, expand: Any, max_steps: int) -> str:
    show = _expanded(story, expand, max_steps)
    out = ["## Backward pass", "", _header(story), ""]
    for name, steps in story.groups():
        if not show(name):
            out += [f"- {_summary(name, steps)}", ""]
            continue
        for step in steps:
            where = _where(step)
            out.append(f"### {_heading(step)}" + (f" — {where}" if where else ""))
            out.append("")
            for sentence, entries in _sentences(step):
                out.append(f"- {sentence}")
                if entries is not None:
                    out += [
                        "",
                        "  ```",
                        *("  " + r for r in entries.splitlines()),
                        "  ```",
                    ]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------ html

_STYLE = """
.pg-story{font-family:system-ui,sans-serif;font-size:14px;line-height:1.45}
.pg-story .pg-step{border-left:3px solid #4a78b5;margin:10px 0;padding:2px 10px}
.pg-story .pg-step.leaf{border-color:#3a9a5b}
.pg-story h4{margin:4px 0;font-family:monospace;font-size:14px}
.pg-story .pg-where{color:#666;font-weight:normal}
.pg-story pre{background:#f4f5f7;margin:2px 0 6px 0;padding:4px 6px;overflow-x:auto}
.pg-story details{margin:8px 0}
.pg-story summary{cursor:pointer;color:#234}
.pg-story p{margin:2px 0}
"""


def render_html(story: Any, expand: Any, max_steps: int) -> str:
    show = _expanded(story, expand, max_steps)
    e = html.escape
    out = [
        '<section class="pg-story">',
        f"<style>{_STYLE}</style>",
        f"<p>{e(_header(story))}</p>",
    ]
    for name, steps in story.groups():
        body = "".join(_html_step(step) for step in steps)
        if name is None:
            out.append(body)
            continue
        is_open = " open" if show(name) else ""
        out.append(
            f"<details{is_open}><summary>{e(_summary(name, steps))}</summary>"
            f"{body}</details>"
        )
    out.append("</section>")
    return "\n".join(out) + "\n"


def _html_step(step: Any) -> str:
    e = html.escape
    where = _where(step)
    kind = " leaf" if step.is_leaf else ""
    parts = [
        f'<div class="pg-step{kind}"><h4>{e(_heading(step))} '
        f'<span class="pg-where">{e(where)}</span></h4>'
    ]
    for sentence, entries in _sentences(step):
        parts.append(f"<p>{e(sentence)}</p>")
        if entries is not None:
            parts.append(f"<pre>{e(entries)}</pre>")
    parts.append("</div>")
    return "".join(parts)
