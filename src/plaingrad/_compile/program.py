"""A recorded call turned into a program that replays without a graph.

``Program`` holds, for each recorded op, a node object made once (the op's own
class, as ``Op.apply`` makes one per call) whose forward and backward rules it
calls directly on arrays. A replay builds no node and wraps no intermediate
result in a Tensor: the ops read their inputs from the call's arguments, from
the parameters (read afresh, so an optimizer step is seen) and from the
arrays of the ops before them, and the ops that have a kernel in
``kernels.py`` write into arrays allocated once, at the first replay.

The backward pass is one node, ``CompiledBackward``, made once with the
program: its edges lead to the parameters and arguments that need a gradient,
and its rule runs the ops' backward rules in the order the engine would run
their nodes (worked out once, by the engine's own walk, in ``_schedule``), so
that every sum of gradients is added in the same order and the results are
bitwise those of the eager step.
"""

from __future__ import annotations

import sys
import threading
from typing import Any
from weakref import ref as _weakref

from ..autograd.node import _FREED, _SECOND_BACKWARD, Node, _edge
from ..nn.module import structure_version
from ..tensor import _wrap
from . import checks, kernels


class _Wanted(Node):
    """Stands in an op node's edges: the op's backward rule only asks whether
    an input wants a gradient (``ctx._next[i] is not None``)."""

    _name = "Wanted"


_WANTED = _Wanted()


class CompiledBackward(Node):
    """The backward node of a replayed call (one per program, reused)."""

    _name = "CompiledFunctionBackward"

    def __init__(self, program: Program) -> None:
        self.program = program

    @staticmethod
    def backward(ctx: Any, grad_output: Any) -> tuple:
        if ctx._saved is _FREED:
            raise RuntimeError(_SECOND_BACKWARD)
        return ctx.program.run_backward(grad_output)

    @staticmethod
    def backward_graph(ctx: Any, grad_output: Any) -> tuple:
        # as PyTorch's compiled autograd, which has no double backward either
        raise RuntimeError(
            "compile: double backward (create_graph=True) through a replayed "
            "call is not supported; run that step uncompiled"
        )


class _Spent(Node):
    """The grad_fn an earlier replay's output is given when the program runs
    again: that output's backward has run (else the replay waits, see
    ``busy``), and the program's arrays now hold the newer call's values."""

    _name = "CompiledFunctionBackward"
    _saved = _FREED

    @staticmethod
    def backward(ctx: Any, grad_output: Any) -> tuple:
        raise RuntimeError(_SECOND_BACKWARD)


_SPENT = _Spent()


class Program:
    """The replayable form of one recording (see the module docstring)."""

    def __init__(self, recording: Any, outputs: list) -> None:
        steps = recording.steps
        self.n = len(steps)
        self.ctxs = []
        self.refs = []  # per step: per input, (kind, value)
        self.options = []
        self.kernels = []
        externals: list = []
        for step in steps:
            ctx = step.cls.__new__(step.cls)
            if step.needs is not None:
                ctx._next = tuple(_WANTED if w else None for w in step.needs)
            self.ctxs.append(ctx)
            refs = []
            for source in step.inputs:
                kind = source[0]
                if kind == "ext":
                    if not any(source[1] is t for t in externals):
                        externals.append(source[1])
                    refs.append(("ext", source[1]))
                elif kind == "const":
                    refs.append(("const", source[1]))
                elif kind == "arg":
                    refs.append(("arg", source[1]))
                else:
                    refs.append(("slot", source[1], source[2]))
            self.refs.append(refs)
            self.options.append(step.options)
            self.kernels.append(kernels.find(step, refs))
        self.externals = externals
        # the guard of the tensors kept outside: same shape, dtype, grad flag
        self.external_guard = [
            (t, t._data.shape, t._data.dtype, t._requires_grad) for t in externals
        ]
        self.outputs = outputs  # per output: ("slot", s, k) or ("arg", i)
        self.n_outs = [step.n_out for step in steps]
        self.node = None
        self.last = None  # a weak reference to the last replay's root output
        root = outputs[0] if outputs else None
        if root is not None and root[0] == "slot" and steps[root[1]].needs:
            self.root = root[1]
            self._schedule(steps)
            self._build_backward()
            self.node = CompiledBackward(self)
        self._build_forward()
        self.single = True
        self.lock = threading.Lock()
        self.structure = None  # nn.module.structure_version when recorded
        self.saved_inputs, self.saved_outputs = _saved_by_ops(steps, outputs)

    # --------------------------------------------------------------- backward

    def _schedule(self, steps: list) -> None:
        """The order in which the engine would run the recorded nodes, and
        where each gradient goes: the engine's walk (``run_backward``) done
        once on the recorded graph, with the same stack and the same edges."""
        terminals: dict[Any, int] = {}  # ("ext", id) or ("arg", i) -> index
        self.terminal_refs: list = []
        edges: list[list] = []
        for s, step in enumerate(steps):
            targets: list = []
            for j, ref in enumerate(self.refs[s]):
                if step.needs is None or not step.needs[j]:
                    targets.append(None)
                    continue
                if ref[0] == "slot":
                    producer = ref[1]
                    targets.append(("slot", producer) if ref[2] == 0 else None)
                else:
                    key = (ref[0], id(ref[1]) if ref[0] == "ext" else ref[1])
                    if key not in terminals:
                        terminals[key] = len(self.terminal_refs)
                        self.terminal_refs.append(ref)
                    targets.append(("term", terminals[key]))
            edges.append(targets)
        # pass 1: how many gradients each node receives
        deps: dict[tuple, int] = {}
        stack = [("slot", self.root)]
        while stack:
            kind, index = stack.pop()
            if kind != "slot":
                continue
            for target in edges[index]:
                if target is not None:
                    seen = deps.get(target, 0)
                    deps[target] = seen + 1
                    if not seen:
                        stack.append(target)
        # pass 2: Kahn's walk with the engine's stack discipline
        order = []
        ready = [("slot", self.root)]
        while ready:
            kind, index = ready.pop()
            if kind != "slot":
                continue
            routes = []
            for j, target in enumerate(edges[index]):
                if target is None:
                    continue
                routes.append((j, target[0] == "slot", target[1]))
                left = deps[target] - 1
                if left:
                    deps[target] = left
                else:
                    ready.append(target)
            order.append((index, tuple(routes)))
        self.order = order

    def _build_backward(self) -> None:
        """``run_backward``: the schedule as straight-line Python."""
        names: dict[str, Any] = {"OWNS": kernels.owns, "KS": self.kernels}
        has_kernels = any(k is not None for k in self.kernels)
        lines = ["def run_backward(g):"]
        used = sorted({t for _, routes in self.order for _, sl, t in routes if sl})
        lines += [f"    g{s} = None" for s in used if s != self.root]
        lines += [f"    t{k} = None" for k in range(len(self.terminal_refs))]
        lines.append(f"    g{self.root} = g")
        for index, routes in self.order:
            ctx = self.ctxs[index]
            kernel = self.kernels[index]
            names[f"C{index}"] = ctx
            names[f"B{index}"] = kernel.backward if kernel else ctx.backward
            lines.append(f"    if g{index} is not None:")
            lines.append(f"        r = B{index}(C{index}, g{index})")
            lines.append(f"        g{index} = None")
            if len(ctx._next) == 1:
                lines.append("        if r.__class__ is not tuple: r = (r,)")
            for j, to_slot, target in routes:
                name = f"g{target}" if to_slot else f"t{target}"
                lines.append(f"        x = r[{j}]")
                if not to_slot and kernel is not None and not kernel.lends:
                    # a kernel's own array must not become an argument's
                    # or a parameter's gradient (a hook or .grad keeps it)
                    lines.append("        x = None if x is None else x.copy()")
                elif not to_slot and kernel is None and has_kernels:
                    # an op's rule may pass on the gradient it got, which
                    # may be a kernel's array
                    lines.append(
                        "        if x is not None and OWNS(KS, x): x = x.copy()"
                    )
                lines.append("        if x is not None:")
                lines.append(
                    f"            {name} = x if {name} is None else {name} + x"
                )
        terms = ", ".join(f"t{k}" for k in range(len(self.terminal_refs)))
        lines.append(f"    return ({terms}{',' if terms else ''})")
        self.run_backward = _define("\n".join(lines), names, "run_backward")

    # ---------------------------------------------------------------- forward

    def still_valid(self) -> bool:
        """Do the tensors and modules it reads look as when it was recorded?"""
        return structure_version[0] == self.structure and self.guard_externals()

    def busy(self) -> bool:
        """Is the last replay's backward still to come? (Its graph is held by
        someone: the output, or a sum of it.) Then the arrays it reads must
        not be overwritten."""
        node = self.node
        if node is None or node._saved.__class__ is not tuple or not node._saved:
            return False
        # references: self.node, the local name and getrefcount's argument
        return sys.getrefcount(node) > 3

    def guard_externals(self) -> bool:
        for t, shape, dtype, requires_grad in self.external_guard:
            data = t._data
            if (
                data.shape != shape
                or data.dtype != dtype
                or t._requires_grad != requires_grad
            ):
                return False
        return True

    def _build_forward(self) -> None:
        """``forward(args)``: the recorded ops as straight-line Python, giving
        the output arrays."""
        names: dict[str, Any] = {}
        lines = ["def forward(args):"]
        for index in range(self.n):
            ctx = self.ctxs[index]
            kernel = self.kernels[index]
            names[f"C{index}"] = ctx
            names[f"F{index}"] = kernel.forward if kernel else ctx.forward
            operands = [f"C{index}"]
            for j, ref in enumerate(self.refs[index]):
                kind = ref[0]
                if kind in ("slot", "arg"):
                    operands.append(_array_expr(ref, self.n_outs))
                else:
                    names[f"E{index}_{j}"] = ref[1]
                    operands.append(
                        f"E{index}_{j}._data" if kind == "ext" else f"E{index}_{j}"
                    )
            fixed = {}
            for name, value in self.options[index].items():
                if value.__class__ is tuple and value and value[0] == "array":
                    operands.append(f"{name}={_array_expr(value[1:], self.n_outs)}")
                else:
                    fixed[name] = value
            check = checks.CHECKS.get(ctx.__class__)
            if check is not None:
                # the value check its function makes before the op
                names[f"K{index}"] = check
                names[f"Q{index}"] = fixed
                lines.append(f"    K{index}({', '.join(operands[1:])}, **Q{index})")
            if fixed and kernel is None:
                names[f"O{index}"] = fixed
                operands.append(f"**O{index}")
            lines.append(f"    s{index} = F{index}({', '.join(operands)})")
        outs = []
        for ref in self.outputs:
            if ref[0] == "arg":
                outs.append("None")
            elif self.n_outs[ref[1]] > 1:
                outs.append(f"s{ref[1]}[{ref[2]}]")
            else:
                outs.append(f"s{ref[1]}")
        lines.append(f"    return ({', '.join(outs)}{',' if outs else ''})")
        self.forward = _define("\n".join(lines), names, "forward")

    def run(self, args: list) -> Any:
        """Replay the call on ``args`` (its tensor arguments)."""
        arrays = self.forward(args)
        results = []
        node = self.node
        # (a node exists when the recorded calls' output needed a gradient,
        # as decided there: the caller's grad mode is part of the key, and
        # enable_grad inside the function is recorded)
        if node is not None:
            last = self.last() if self.last is not None else None
            if last is not None and last.grad_fn is node:
                # its backward ran (busy() said so): a second one must raise
                # as in eager mode, not use this call's arrays
                last.grad_fn = _SPENT
            node._next = tuple(self._edge(ref, args) for ref in self.terminal_refs)
            node._saved = (True,)
            # hooks on a step's grad_fn belong to that step, as in eager mode
            node._pre_hooks = node._post_hooks = None
        for position, ref in enumerate(self.outputs):
            if ref[0] == "arg":
                results.append(args[ref[1]])
                continue
            out = arrays[position]
            if kernels.owns(self.kernels, out):
                out = out.copy()
            owner = node if (position == 0 and ref[2] == 0) else None
            results.append(_wrap(out, owner))
        if node is not None:
            self.last = _weakref(results[0])
            # what the ops saved, to find in-place changes before backward
            # (the engine checks node._saved_from as for any node)
            checks = []
            for ref in self.saved_inputs:
                t = ref[1] if ref[0] == "ext" else args[ref[1]]
                counter = t._vc
                checks.append((t, 0 if counter is None else counter[0]))
            for position in self.saved_outputs:
                checks.append((_weakref(results[position]), 0))
            node._saved_from = tuple(checks)
        return results

    @staticmethod
    def _edge(ref: tuple, args: list) -> Any:
        if ref[0] == "ext":
            return _edge(ref[1])
        return _edge(args[ref[1]])


def _array_expr(ref: tuple, n_outs: list) -> str:
    """The replay's expression for the array of an argument or a result."""
    if ref[0] == "arg":
        return f"args[{ref[1]}]._data"
    return f"s{ref[1]}[{ref[2]}]" if n_outs[ref[1]] > 1 else f"s{ref[1]}"


def _define(source: str, names: dict, name: str) -> Any:
    """The function ``name`` defined by ``source`` with ``names`` in scope."""
    scope = dict(names)
    exec(compile(source, f"<plaingrad.compile {name}>", "exec"), scope)
    return scope[name]


def _saved_by_ops(steps: list, outputs: list) -> tuple:
    """The arguments and outside tensors (refs) whose arrays the recorded
    nodes saved, and the output positions whose arrays they saved: an
    in-place change to any of these before backward is an error in eager
    mode (as ``node._saved_from`` records there), so it is one here."""
    position_of = {
        (ref[1], ref[2]): i for i, ref in enumerate(outputs) if ref[0] == "slot"
    }
    inputs: list = []
    positions: list = []
    for s, step in enumerate(steps):
        node = step.outputs[0].grad_fn
        if node is None or node.__class__ is not step.cls:
            continue
        for entry in node._saved_from:
            if entry is None:
                continue
            saved = entry[0]
            if saved.__class__ is _weakref:
                if (s, 0) in position_of:
                    positions.append(position_of[(s, 0)])
                continue
            for j, t in enumerate(step.tensors):
                if t is saved:
                    source = step.inputs[j]
                    if source[0] in ("arg", "ext"):
                        if not any(
                            r[0] == source[0] and r[1] is source[1] for r in inputs
                        ):
                            inputs.append(source)
                    elif source[0] == "slot" and (source[1], source[2]) in position_of:
                        positions.append(position_of[(source[1], source[2])])
                    break
    return inputs, sorted(set(positions))
