"""``einsum``, and the mask ops ``masked_select``, ``nonzero`` and ``where(cond)``.

``einsum`` sums products over any subscripts NumPy's einsum accepts.

The public function first rewrites the equation into an explicit one with a
letter for every dimension: ``...`` becomes letters of its own (aligned right,
as broadcasting aligns shapes) and an implicit output becomes the labels that
occur once, in alphabetical order. The op then sees only letters.

The gradient of operand ``k`` is itself an einsum: contract the output
gradient with every other operand, keeping operand ``k``'s labels. Three cases
need more than that one call. A label only operand ``k`` has (summed away in
the forward) appears in no other input, so it is broadcast back afterwards; a
label of size 1 in operand ``k`` that broadcast against a larger size is
summed back to 1; a label repeated within operand ``k`` (``'ii->i'``, a
diagonal) is computed once and written onto that diagonal of a zero array.

For double backward the same gradients are built from recorded ops: the
einsum itself (linear in each operand), sums, permutes and expands, and the
diagonal write-back as ``IndexScatter`` (see ``shape.py``).

``masked_select`` reads the masked positions; its gradient goes back to them.
``nonzero`` and ``where(cond)`` return index tensors and have no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from . import elementwise
from .shape import IndexScatter, expand


def _contract(equation: str, arrays: list) -> Any:
    # the greedy path turns two-operand products into BLAS calls
    optimize = "greedy" if len(arrays) > 1 else False
    return xp.einsum(equation, *arrays, optimize=optimize)


class Einsum(Op):
    # PyTorch has no single node for einsum: it runs permutes, bmm and sums,
    # so its grad_fn is whichever of those ran last.
    _name = "EinsumBackward0"
    _saved_for = "others"

    @staticmethod
    def forward(ctx, *arrays, inputs, output):
        ctx.save_for_backward(*arrays)
        ctx.inputs, ctx.output = inputs, output
        return _contract(",".join(inputs) + "->" + output, list(arrays))

    @staticmethod
    def backward(ctx, grad_output):
        # d out / d operand_k = einsum of grad_output with the other operands
        arrays = ctx.saved_tensors
        grads = []
        for k, needed in enumerate(ctx.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            others = [ctx.output] + [s for j, s in enumerate(ctx.inputs) if j != k]
            operands = [grad_output] + [a for j, a in enumerate(arrays) if j != k]
            grads.append(_operand_grad(ctx.inputs[k], arrays[k], others, operands))
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same einsums, recorded: each is linear in every operand
        tensors = ctx.saved_graph_tensors
        grads = []
        for k, needed in enumerate(ctx.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            others = [ctx.output] + [s for j, s in enumerate(ctx.inputs) if j != k]
            operands = [grad_output] + [t for j, t in enumerate(tensors) if j != k]
            grads.append(
                _operand_grad_graph(ctx.inputs[k], tensors[k], others, operands)
            )
        return tuple(grads)


def _operand_grad(subs: str, array: Any, others: list, operands: list) -> Any:
    """The gradient for one operand with subscripts ``subs`` (see module doc)."""
    labels = "".join(dict.fromkeys(subs))  # unique, in order of appearance
    sizes = dict(zip(subs, array.shape))
    known = set("".join(others))
    kept = "".join(label for label in labels if label in known)
    grad = _contract(",".join(others) + "->" + kept, operands)
    # labels of size 1 in this operand that broadcast: sum back to size 1
    squash = tuple(
        i for i, label in enumerate(kept) if sizes[label] == 1 and grad.shape[i] != 1
    )
    if squash:
        grad = grad.sum(axis=squash, keepdims=True)
    # labels summed away in the forward: every element got the same gradient
    if len(kept) < len(labels):
        position = {label: i for i, label in enumerate(kept)}
        shape = [grad.shape[position[lab]] if lab in position else 1 for lab in labels]
        order = [position[lab] for lab in labels if lab in position]
        grad = xp.transpose(grad, order).reshape(shape)
    full = tuple(sizes[label] for label in labels)
    if grad.shape != full:
        grad = xp.broadcast_to(grad, full)
    if len(labels) == len(subs):
        return grad
    # a repeated label read a diagonal: write the gradient back onto it
    grad_input = xp.zeros(array.shape, dtype=grad.dtype)
    n = len(labels)
    steps = {
        label: xp.arange(sizes[label]).reshape([-1 if i == j else 1 for j in range(n)])
        for i, label in enumerate(labels)
    }
    grad_input[tuple(steps[label] for label in subs)] = grad
    return grad_input


def _operand_grad_graph(subs: str, tensor: Tensor, others: list, operands: list):
    """``_operand_grad`` on Tensors, with recorded ops (double backward)."""
    labels = "".join(dict.fromkeys(subs))
    sizes = dict(zip(subs, tensor.shape))
    known = set("".join(others))
    kept = "".join(label for label in labels if label in known)
    grad = Einsum.apply(*operands, inputs=tuple(others), output=kept)
    squash = tuple(
        i for i, label in enumerate(kept) if sizes[label] == 1 and grad.shape[i] != 1
    )
    if squash:
        grad = grad.sum(squash, keepdim=True)
    if len(kept) < len(labels):
        position = {label: i for i, label in enumerate(kept)}
        shape = [grad.shape[position[lab]] if lab in position else 1 for lab in labels]
        order = [position[lab] for lab in labels if lab in position]
        grad = grad.permute(order).reshape(shape)
    full = tuple(sizes[label] for label in labels)
    if tuple(grad.shape) != full:
        grad = grad.expand(full)
    if len(labels) == len(subs):
        return grad
    n = len(labels)
    steps = {
        label: xp.arange(sizes[label]).reshape([-1 if i == j else 1 for j in range(n)])
        for i, label in enumerate(labels)
    }
    index = tuple(steps[label] for label in subs)
    return IndexScatter.apply(grad, shape=tuple(tensor.shape), index=index, basic=False)


# string.ascii_letters, written out: the string module takes 1-2 ms to import.
_LETTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _parse(equation: str, shapes: list) -> tuple[list, str]:
    """The explicit per-operand subscripts and the output subscripts."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        more = "more" if len(shapes) > len(inputs) else "fewer"
        raise RuntimeError(
            f"einsum(): {more} operands were provided than specified in the "
            f"equation {equation!r} ({len(shapes)} operands, {len(inputs)} "
            "subscript groups)"
        )
    for part in inputs + ([rhs] if arrow else []):
        bad = set(part.replace("...", "")) - _LETTERS
        if bad:
            raise RuntimeError(
                f"einsum(): invalid subscript {sorted(bad)[0]!r} in equation "
                f"{equation!r}: subscripts must be letters in [a-zA-Z] or '...'"
            )
    unused = iter(sorted(_LETTERS - set(equation)))
    ellipsis_ndim = 0
    for k, (part, shape) in enumerate(zip(inputs, shapes)):
        named = len(part.replace("...", ""))
        if "..." in part:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - named)
            if len(shape) < named:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({named}) "
                    f"is more than the number of dimensions ({len(shape)}) for "
                    f"operand {k}"
                )
        elif named != len(shape):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does "
                f"not match the number of dimensions ({len(shape)}) for operand "
                f"{k} and no ellipsis was given"
            )
    dots = "".join(next(unused) for _ in range(ellipsis_ndim))
    explicit = []
    for part, shape in zip(inputs, shapes):
        if "..." in part:
            n = len(shape) - len(part.replace("...", ""))
            part = part.replace("...", dots[ellipsis_ndim - n :])
        explicit.append(part)
    if arrow:
        output = rhs.replace("...", dots)
    else:
        counts = "".join(explicit)
        output = dots + "".join(
            sorted(c for c in set(counts) - set(dots) if counts.count(c) == 1)
        )
    for c in output:
        if output.count(c) > 1:
            raise RuntimeError(
                f"einsum(): output subscript {c} appears more than once in the output"
            )
        if c not in "".join(explicit):
            raise RuntimeError(
                f"einsum(): output subscript {c} does not appear in the equation "
                "for any input operand"
            )
    return explicit, output


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum products of ``operands``' elements as the subscripts in ``equation`` say.

    Args:
        equation: subscripts such as ``'ij,jk->ik'``; letters label dimensions,
            ``...`` stands for broadcast dimensions, and without ``->`` the
            output is the labels that occur once, in alphabetical order.
        *operands: the tensors (or one list of them), of one dtype.

    Returns:
        The contracted tensor.

    Example:
        >>> import plaingrad as torch
        >>> a = torch.tensor([[1., 2.], [3., 4.]])
        >>> torch.einsum("ij,jk->ik", a, a).tolist()
        [[7.0, 10.0], [15.0, 22.0]]
        >>> torch.einsum("ii", a).item()
        5.0
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"einsum(): operand {k} must be a Tensor, got {type(t).__name__}"
            )
    dtypes = {t._data.dtype for t in operands}
    if len(dtypes) > 1:
        raise RuntimeError(
            f"einsum(): expected all operands to have one dtype, got "
            f"{[str(t.dtype) for t in operands]}"
        )
    inputs, output = _parse(equation, [t._data.shape for t in operands])
    sizes: dict = {}
    for k, (subs, t) in enumerate(zip(inputs, operands)):
        for label, n in zip(subs, t._data.shape):
            seen = sizes.setdefault(label, n)
            if n != seen and 1 not in (n, seen):
                raise RuntimeError(
                    f"einsum(): subscript {label} has size {n} for operand {k} "
                    f"which does not broadcast with previously seen size {seen}"
                )
            sizes[label] = np.maximum(seen, n)
    return Einsum.apply(*operands, inputs=tuple(inputs), output=output)


class MaskedSelect(Op):
    _name = "MaskedSelectBackward0"

    @staticmethod
    def forward(ctx, a, mask):
        ctx.in_shape, ctx.mask = a.shape, mask
        return a[mask]

    @staticmethod
    def backward(ctx, grad_output):
        # selected elements take their gradient back; the rest get zero
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        grad_input[ctx.mask] = grad_output
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return IndexScatter.apply(
            grad_output, shape=ctx.in_shape, index=ctx.mask, basic=True
        )


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where ``mask`` is True, as a 1-D tensor.

    ``input`` and ``mask`` broadcast together.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([1., -2., 3.])
        >>> x.masked_select(x > 0).tolist()
        [1.0, 3.0]
    """
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(
            f"masked_select: expected BoolTensor for mask, got "
            f"{getattr(mask, 'dtype', type(mask).__name__)}"
        )
    shape, mask_shape = input._data.shape, mask._data.shape
    try:
        common = np.broadcast_shapes(shape, mask_shape)
    except ValueError:
        raise RuntimeError(
            f"masked_select: the shape of the mask {list(mask_shape)} does not "
            f"broadcast with the shape of the input {list(shape)}"
        ) from None
    if common != shape:
        input = expand(input, common)
    return MaskedSelect.apply(input, mask=xp.broadcast_to(mask._data, common))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero elements of ``input`` (no gradient).

    Args:
        input: any tensor.
        as_tuple: return one 1-D index tensor per dimension instead of an
            ``(n, input.dim())`` tensor.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([[1, 0], [0, 2]]).nonzero().tolist()
        [[0, 0], [1, 1]]
    """
    data = input._data
    if as_tuple:
        found = xp.nonzero(xp.atleast_1d(data))
        return tuple(_wrap(i.astype(np.int64), None) for i in found)
    return _wrap(xp.argwhere(data).astype(np.int64), None)


_MISSING = object()


def where(condition: Tensor, input: Any = _MISSING, other: Any = _MISSING) -> Any:
    """``where(condition, input, other)`` picks elementwise;
    ``where(condition)`` is ``nonzero(condition, as_tuple=True)``.

    Example:
        >>> import plaingrad as torch
        >>> torch.where(torch.tensor([False, True, True]))[0].tolist()
        [1, 2]
    """
    if input is _MISSING and other is _MISSING:
        return nonzero(condition, as_tuple=True)
    if input is _MISSING or other is _MISSING:
        raise TypeError(
            "where(): expected `condition` alone or `condition`, `input` and "
            "`other`; got only one of `input` and `other`"
        )
    return elementwise.where(condition, input, other)
