"""Text, Markdown and HTML renderings of a ``Story`` (see ``narrate.py``).

All three say the same things from the same sentences (``_sentences``); they
differ in layout only. Numbers are printed with 6 significant digits.
Long stories are summarised per group (a module, or a run of steps outside
every module longer than ``RUN``) unless expanded (``_layout``).
"""

from __future__ import annotations

import html
import shutil
import textwrap
from collections import Counter
from typing import Any

import numpy as np

NUMBER = "{:.6g}"
RUN = 10  # steps outside modules told one by one in a summarised story


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


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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
    if step.left_alone:
        out.append(
            (
                f"{step.value} is not among backward's inputs=, so {step.value}.grad "
                "is left as it was.",
                None,
            )
        )
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
        users = _and([name for name, _ in step.summed])
        parts = ", ".join(f"{number(n)} from {name}" for name, n in step.summed)
        missing = step.uses - len(step.summed)
        extra = f" ({_count(missing, 'use')} sent no gradient)" if missing > 0 else ""
        out.append(
            (
                f"{g.name} was used {step.uses} times, by {users}{extra}, so this "
                f"gradient is the sum of their shares, of norms {parts}.",
                None,
            )
        )
    for i, (name, g_out) in enumerate(zip(step.inputs, step.grads_out)):
        if g_out is not None:
            out.append(
                (
                    f"Sends to {name}: shape {shape_text(g_out.shape)}, norm "
                    f"{number(g_out.norm)}.",
                    None if g_out.values is None else array_text(g_out.values, width),
                )
            )
        elif i < len(step.needs) and step.needs[i]:
            out.append((f"Sends no gradient to {name}: the rule gave none.", None))
        else:
            out.append((f"Sends nothing to {name}: it needs no gradient.", None))
    for name, shape, out_shape, dims in step.broadcast:
        which = (
            f"dim {dims[0]}" if len(dims) == 1 else "dims " + _and(list(map(str, dims)))
        )
        out.append(
            (
                f"Broadcast undone: {name} of shape {shape_text(shape)} was "
                f"broadcast to {shape_text(out_shape)} in the forward pass, so "
                f"its gradient is summed over {which}.",
                None,
            )
        )
    return out


def _header(story: Any) -> str:
    passes = "" if story.passes <= 1 else f" in {story.passes} backward passes"
    root = story.steps[0].value if story.steps else "nothing"
    return (
        f"Backward pass from {root}: {len(story.steps)} steps{passes}, in the "
        "order the engine ran them (a node runs once every consumer of its "
        f"value has sent its gradient). L is {root}; g is the gradient arriving "
        "at a node, ∂L/∂(its value)."
    )


def _layout(story: Any, expand: Any, max_steps: int) -> list[tuple[Any, bool]]:
    """``(group, told step by step?)`` for each group of ``story.groups``."""
    if isinstance(expand, str) and expand != "auto":
        expand = [expand]
    if expand == "auto":
        expand = len(story.steps) <= max_steps
    if isinstance(expand, bool):
        return [(group, expand or _short_run(group)) for group in story.groups()]
    try:
        wanted = [str(e) for e in expand]
    except TypeError:
        raise TypeError(
            "Story: `expand` must be True, False, 'auto' or a list of module "
            f"names, got {expand!r}"
        ) from None
    modules = {s.module for s in story.steps if s.module}
    for name in wanted:
        if not any(m == name or m.startswith(name + ".") for m in modules):
            known = ", ".join(sorted(modules)[:12]) or "none"
            raise ValueError(
                f"Story: `expand` names {name!r}, which ran no op of this story "
                f"(its modules: {known})"
            )
    return [
        (group, _short_run(group) or _wanted(group[1], wanted))
        for group in story.groups(wanted)
    ]


def _short_run(group: tuple) -> bool:
    return group[1] is None and len(group[2]) <= RUN


def _wanted(name: str | None, wanted: list[str]) -> bool:
    return name is not None and any(
        name == w or name.startswith(w + ".") for w in wanted
    )


def _summary(story: Any, name: str | None, steps: list) -> str:
    """One line for a group that is not told step by step."""
    made = {s.value for s in steps}
    ops = [s for s in steps if not s.is_leaf]
    params = [s for s in steps if s.is_leaf]
    if name is None:
        kinds = Counter(s.op for s in ops).most_common(4)
        head = (
            f"{_count(len(steps), 'step')} outside any module ("
            + ", ".join(f"{op} ×{n}" for op, n in kinds)
            + (", ..." if len(Counter(s.op for s in ops)) > 4 else "")
            + ")"
        )
    else:
        kind = story.module_types.get(name)
        head = f"module {name}" + (f" ({kind})" if kind else "")
    parts = [f"{_count(len(ops), 'op')}, {_count(len(params), 'parameter')}"]
    if ops:
        parts.append(f"gradient arriving norm {number(ops[0].grad_in.norm)}")
    if params:
        norms = ", ".join(f"{p.value} {number(p.grad_in.norm)}" for p in params[:6])
        more = f" and {len(params) - 6} more" if len(params) > 6 else ""
        parts.append(f"parameter gradient norms: {norms}{more}")
    sent = {
        g.name: g.norm
        for s in ops
        for g in s.grads_out
        if g is not None and g.name not in made
    }
    if sent:
        parts.append(
            "sent on to "
            + ", ".join(f"{n} (norm {number(v)})" for n, v in sent.items())
        )
    return head + ": " + "; ".join(parts) + "."


def _pass_title(story: Any, pass_index: int, seen: set) -> str | None:
    """ "Backward pass k of n" before the first group of each pass, when the
    block ran several."""
    if story.passes <= 1 or pass_index in seen:
        return None
    seen.add(pass_index)
    return f"Backward pass {pass_index} of {story.passes}"


# ------------------------------------------------------------------ text


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    # names are never cut: a name longer than the line overflows instead
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_text(story: Any, width: int | None, expand: Any, max_steps: int) -> str:
    if width is None:
        width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    if not isinstance(width, int) or isinstance(width, bool) or width < 40:
        raise ValueError(f"Story.to_text: `width` must be an int >= 40, got {width!r}")
    lines = _wrap(_header(story), width)
    collapsed = False
    seen: set = set()
    for (pass_index, name, steps), told in _layout(story, expand, max_steps):
        title = _pass_title(story, pass_index, seen)
        if title:
            lines += ["", title]
        lines.append("")
        if not told:
            collapsed = True
            lines.extend(_wrap(_summary(story, name, steps), width, rest="    "))
            continue
        for k, step in enumerate(steps):
            lines.extend(([""] if k else []) + _text_step(step, width))
    if collapsed:
        note = "(Groups are summarised; to_text(expand=True) tells every step.)"
        lines += [""] + _wrap(note, width)
    return "\n".join(lines) + "\n"


def _text_step(step: Any, width: int) -> list[str]:
    where = _where(step)
    lines = _wrap(_heading(step) + (f"   {where}" if where else ""), width, rest="    ")
    # sentences at 4 columns (continued at 6), entries at 8
    for sentence, entries in _sentences(step, width - 8):
        lines.extend(_wrap(sentence, width, "    ", "      "))
        if entries is not None:
            lines.extend("        " + row for row in entries.splitlines())
    return lines


# -------------------------------------------------------------- markdown


def _md(text: str) -> str:
    """Text for Markdown: <, > and & as entities, so that a name holding
    HTML stays text in every viewer."""
    return html.escape(text, quote=False)


def render_markdown(story: Any, expand: Any, max_steps: int) -> str:
    out = ["## Backward pass", "", _md(_header(story)), ""]
    seen: set = set()
    for (pass_index, name, steps), told in _layout(story, expand, max_steps):
        title = _pass_title(story, pass_index, seen)
        if title:
            out += [f"**{title}**", ""]
        if not told:
            out += [f"- {_md(_summary(story, name, steps))}", ""]
            continue
        for step in steps:
            where = _where(step)
            heading = f"### {_md(_heading(step))}"
            out.append(heading + (f" — {_md(where)}" if where else ""))
            out.append("")
            for sentence, entries in _sentences(step):
                out.append(f"- {_md(sentence)}")
                if entries is not None:
                    rows = ["  " + r for r in entries.splitlines()]
                    out += ["", "  ```", *rows, "  ```"]
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
    e = html.escape
    out = [
        '<section class="pg-story">',
        f"<style>{_STYLE}</style>",
        f"<p>{e(_header(story))}</p>",
    ]
    seen: set = set()
    for (pass_index, name, steps), told in _layout(story, expand, max_steps):
        title = _pass_title(story, pass_index, seen)
        if title:
            out.append(f"<h3>{e(title)}</h3>")
        body = "".join(_html_step(step) for step in steps)
        if name is None and told:
            out.append(body)
            continue
        is_open = " open" if told else ""
        out.append(
            f"<details{is_open}><summary>{e(_summary(story, name, steps))}</summary>"
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
