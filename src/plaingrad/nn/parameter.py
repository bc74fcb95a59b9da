"""``Parameter``: a leaf tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, _make


class Parameter(Tensor):
    """A tensor that is a module's learnable weight (requires grad by default).

    Args:
        data: the initial values (a Tensor); their memory is shared.
        requires_grad: whether the optimizer should train it.
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter: expected `data` to be a Tensor, got {type(data).__name__}"
            )
        _make(self, data._data, None)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        result = Parameter(Tensor.detach(self).clone(), self._requires_grad)
        if self.grad is not None:
            result.grad = self.grad.clone()
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: int) -> Any:
        return (_rebuild_parameter, (self._data, self._requires_grad))


def _rebuild_parameter(data: Any, requires_grad: bool) -> Parameter:
    from ..tensor import _wrap

    return Parameter(_wrap(data, None), requires_grad)
