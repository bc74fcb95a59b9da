"""One step of a recurrent layer: ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Each step is written once, as a function of the input projection ``gi``
(``x @ W_ih^T + b_ih``, already computed) and the previous state; the cells
compute ``gi`` for their single step and the layers of ``nn.rnn`` compute it for
the whole sequence in one product, then call the same step function once per
timestep. The steps compose differentiable ops, so autograd runs the backward
pass through time; no step has a hand-written gradient.

Gate blocks follow PyTorch: LSTM rows are (input, forget, cell, output), GRU
rows are (reset, update, new), each block ``hidden_size`` rows tall.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype
from ..creation import empty, zeros
from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.linalg import linear
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

# ------------------------------------------------------------------ steps
# Each step maps (gi, state, w_hh, b_hh) to the new state, a tuple: (h,) for
# RNN and GRU, (h, c) for LSTM. gi: (batch, gates * hidden), b_ih included.


def rnn_tanh_step(gi: Tensor, state: tuple, w_hh: Tensor, b_hh: Any) -> tuple:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return (tanh(gi + linear(state[0], w_hh, b_hh)),)


def rnn_relu_step(gi: Tensor, state: tuple, w_hh: Tensor, b_hh: Any) -> tuple:
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh)."""
    return (relu(gi + linear(state[0], w_hh, b_hh)),)


def lstm_step(gi: Tensor, state: tuple, w_hh: Tensor, b_hh: Any) -> tuple:
    """c' = f * c + i * g and h' = o * tanh(c'), gates (i, f, g, o)."""
    h, c = state
    gates = gi + linear(h, w_hh, b_hh)  # (batch, 4 * hidden)
    i, f, g, o = gates.chunk(4, 1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def gru_step(gi: Tensor, state: tuple, w_hh: Tensor, b_hh: Any) -> tuple:
    """h' = (1 - z) * n + z * h, with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    h = state[0]
    gh = linear(h, w_hh, b_hh)  # (batch, 3 * hidden)
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = sigmoid(i_r + h_r)
    z = sigmoid(i_z + h_z)
    n = tanh(i_n + r * h_n)
    # (1 - z) * n + z * h, with one product fewer
    return (n + z * (h - n),)


STEPS = {
    "RNN_TANH": rnn_tanh_step,
    "RNN_RELU": rnn_relu_step,
    "LSTM": lstm_step,
    "GRU": gru_step,
}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def check_positive_sizes(owner: str, input_size: Any, hidden_size: Any) -> None:
    """Refuse sizes that are not ints or that are out of range, as PyTorch."""
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(
                f"{owner}: `{name}` should be of type int, got: {type(value).__name__}"
            )
    if input_size < 0:
        raise ValueError(
            f"{owner}: `input_size` must be non-negative, got {input_size}"
        )
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")


# ------------------------------------------------------------------ cells


class RNNCellBase(Module):
    """Parameters, initialisation and checks shared by the three cells."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self._mode = mode
        owner = type(self).__name__
        check_positive_sizes(owner, input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        dtype = dtype or _dtype.get_default_dtype()
        rows = GATES[self._mode] * hidden_size

        def new(*shape: int) -> Parameter:
            return Parameter(empty(*shape, dtype=dtype, device=device))

        self.weight_ih = new(rows, input_size)
        self.weight_hh = new(rows, hidden_size)
        if bias:
            self.bias_ih = new(rows)
            self.bias_hh = new(rows)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _check_input(self, input: Tensor) -> bool:
        """Validate ``input``; True when it is batched (2-D)."""
        owner = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{owner}: Expected input to be 1D or 2D, got {input.dim()}D instead"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{owner}: input has inconsistent input_size: got "
                f"{input.shape[-1]} expected {self.input_size} (`input` shape "
                f"{tuple(input.shape)})"
            )
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(
                f"{owner}: input dtype ({input.dtype}) does not match weight dtype "
                f"({self.weight_ih.dtype}). Convert input: "
                f"input.to({self.weight_ih.dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        return input.dim() == 2

    def _check_hidden(
        self, input: Tensor, hx: Any, batched: bool, name: str = "hidden0"
    ) -> Tensor:
        """Validate one state tensor (made zeros when None); returned 2-D."""
        owner = type(self).__name__
        batch = input.shape[0] if batched else 1
        if hx is None:
            return zeros(batch, self.hidden_size, dtype=input.dtype)
        if not isinstance(hx, Tensor):
            raise TypeError(
                f"{owner}: `{name}` must be a Tensor, got {type(hx).__name__}"
            )
        if hx.dim() != input.dim():
            kind = "batched 2-D" if batched else "unbatched 1-D"
            raise RuntimeError(
                f"{owner}: for {kind} input, `{name}` should also be "
                f"{input.dim()}-D but got {hx.dim()}-D tensor"
            )
        if not batched:
            hx = hx.unsqueeze(0)
        if hx.shape[0] != batch:
            raise RuntimeError(
                f"{owner}: Input batch size {batch} doesn't match {name} batch "
                f"size {hx.shape[0]}"
            )
        if hx.shape[1] != self.hidden_size:
            raise RuntimeError(
                f"{owner}: {name} has inconsistent hidden_size: got "
                f"{hx.shape[1]}, expected {self.hidden_size}"
            )
        return hx

    def _run(self, input: Tensor, state: tuple, batched: bool) -> tuple:
        x = input if batched else input.unsqueeze(0)
        gi = linear(x, self.weight_ih, self.bias_ih)
        out = STEPS[self._mode](gi, state, self.weight_hh, self.bias_hh)
        if not batched:
            out = tuple(s.squeeze(0) for s in out)
        return out


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        bias: learn ``b_ih`` and ``b_hh`` (default True).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.

    Shape:
        input: (batch, input_size) or (input_size,); hx: (batch, hidden_size)
        or (hidden_size,), zeros when omitted; output: like hx.

    Example:
        >>> import plaingrad as torch
        >>> cell = torch.nn.RNNCell(3, 5)
        >>> cell(torch.randn(2, 3)).shape
        plaingrad.Size([2, 5])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity: {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, mode, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        h = self._check_hidden(input, hx, batched)
        return self._run(input, (h,), batched)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step; gates (input, forget, cell, output) in ``weight_ih`` rows.

    ``c' = f * c + i * g`` and ``h' = o * tanh(c')``, where i, f, o are sigmoids
    and g a tanh of ``x W_ih^T + b_ih + h W_hh^T + b_hh``.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of ``h`` and ``c``.
        bias: learn ``b_ih`` and ``b_hh`` (default True).

    Shape:
        input: (batch, input_size) or (input_size,); hx: a pair (h_0, c_0),
        each (batch, hidden_size) or (hidden_size,), zeros when omitted;
        output: the pair (h_1, c_1), shaped like h_0.

    Example:
        >>> import plaingrad as torch
        >>> h, c = torch.nn.LSTMCell(3, 5)(torch.randn(2, 3))
        >>> h.shape, c.shape
        (plaingrad.Size([2, 5]), plaingrad.Size([2, 5]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, "LSTM", device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        batched = self._check_input(input)
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(
                "LSTMCell: `hx` must be a pair of tensors (h_0, c_0), got "
                f"{type(hx).__name__}"
            )
        h = self._check_hidden(input, hx[0], batched, "hidden0")
        c = self._check_hidden(input, hx[1], batched, "hidden1")
        return self._run(input, (h, c), batched)


class GRUCell(RNNCellBase):
    """One GRU step; gates (reset, update, new) in ``weight_ih`` rows.

    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and
    ``h' = (1 - z) * n + z * h``, with r and z sigmoids.

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        bias: learn ``b_ih`` and ``b_hh`` (default True).

    Shape:
        input: (batch, input_size) or (input_size,); hx: (batch, hidden_size)
        or (hidden_size,), zeros when omitted; output: like hx.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.GRUCell(3, 5)(torch.randn(3)).shape
        plaingrad.Size([5])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, "GRU", device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        h = self._check_hidden(input, hx, batched)
        return self._run(input, (h,), batched)[0]
