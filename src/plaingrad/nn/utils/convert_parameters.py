"""Flatten parameters into one vector and back (``parameters_to_vector``,
``vector_to_parameters``), as optimizers that work on a flat vector need."""

from __future__ import annotations

from collections.abc import Iterable

from ...tensor import Tensor


def _check_device(param: Tensor, device: str | None) -> str:
    here = str(param.device)
    if device is not None and here != device:
        raise TypeError(
            "Found two parameters on different devices, this is currently not "
            "supported."
        )
    return here


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the parameters, each flattened, into one 1-D tensor.

    The result is a new tensor (differentiable: its gradient flows back to
    the parameters); mixed dtypes are promoted as ``cat`` promotes them.

    Args:
        parameters: an iterable of tensors (e.g. ``model.parameters()``).

    Returns:
        A 1-D tensor of ``sum(p.numel())`` elements.

    Example:
        >>> import plaingrad as torch
        >>> layer = torch.nn.Linear(3, 2)
        >>> torch.nn.utils.parameters_to_vector(layer.parameters()).numel()
        8
    """
    from ... import cat

    device = None
    pieces = []
    for i, param in enumerate(parameters):
        if not isinstance(param, Tensor):
            raise TypeError(
                "parameters_to_vector: expected an iterable of Tensors, but "
                f"element {i} is {type(param).__name__}"
            )
        device = _check_device(param, device)
        pieces.append(param.reshape(-1))
    if not pieces:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    return cat(pieces)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Make each parameter's ``.data`` the next slice of ``vec``, reshaped.

    As in PyTorch, the parameters then share ``vec``'s memory and take its
    dtype; elements of ``vec`` past the last parameter are ignored.

    Args:
        vec: a 1-D tensor with at least ``sum(p.numel())`` elements.
        parameters: an iterable of tensors.

    Raises:
        TypeError: ``vec`` is not a tensor.
        RuntimeError: ``vec`` is too short; no parameter is changed.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    device = None
    for param in params:
        device = _check_device(param, device)
    needed = sum(p.numel() for p in params)
    if vec.numel() < needed:
        raise RuntimeError(
            f"vector_to_parameters: `vec` has {vec.numel()} elements but the "
            f"parameters need {needed}"
        )
    pointer = 0
    for param in params:
        size = param.numel()
        param.data = vec[pointer : pointer + size].view_as(param).data
        pointer += size
