"""Recurrent layers: ``RNN``, ``LSTM`` and ``GRU`` (multi-layer, bidirectional).

Every layer and direction runs the same loop. The input projection
``x @ W_ih^T + b_ih`` is one product over all time steps at once; the loop then
does only the recurrent part, one step function from ``rnn_cells`` per step.
Autograd records the loop, so backpropagation through time needs no code here.

A padded batch and a ``PackedSequence`` go through one code path: a padded
(time, batch, in) input is flattened to (time * batch, in) rows with every
``batch_sizes[t]`` equal to batch, which is exactly a packed batch whose
sequences all have full length. At step t only the first ``batch_sizes[t]``
rows of the state are live: going forward the state shrinks as sequences end
(each finished row is kept as its final state), going backward it grows as
sequences begin, their rows taken from the initial state.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from .. import _dtype
from ..backend import xp
from ..creation import empty, tensor, zeros
from ..ops.indexing import index_select
from ..ops.linalg import linear
from ..ops.shape import cat, stack
from ..random import _rng
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .rnn_cells import GATES, STEPS, check_positive_sizes
from .utils.rnn import PackedSequence


def _dropout(input: Tensor, p: float) -> Tensor:
    """Zero each element with probability ``p``, scale the rest by 1/(1 - p)."""
    keep = _rng(None).random(input._data.shape) >= p
    scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
    mask = xp.asarray(keep * scale, dtype=input._data.dtype)
    return input * tensor(mask)


def _split_steps(gi: Tensor, sizes: list[int]) -> list:
    """Cut ``gi`` into the rows of each time step, halving recursively.

    A flat ``split`` into T pieces costs O(T * rows) in backward, since each
    piece sends back a gradient as large as ``gi``; halving costs
    O(log T * rows) for the same pieces.
    """
    if len(sizes) == 1:
        return [gi]
    half = len(sizes) // 2
    rows = sum(sizes[:half])
    left, right = gi.split([rows, gi.shape[0] - rows], 0)
    return _split_steps(left, sizes[:half]) + _split_steps(right, sizes[half:])


def _run_direction(
    step: Any,
    gis: list,
    batch_sizes: list[int],
    state0: tuple,
    w_hh: Tensor,
    b_hh: Tensor | None,
    reverse: bool,
) -> tuple[list, tuple]:
    """Run ``step`` over the time steps; the outputs in time order, final state.

    gis[t]: (batch_sizes[t], gates * hidden); state0: tensors (batch, hidden).
    """
    outputs = []
    if not reverse:
        state = state0
        finished = []  # rows whose sequence has ended, later ones first
        for gi, size in zip(gis, batch_sizes):
            if size < state[0].shape[0]:
                finished.append(tuple(s[size:] for s in state))
                state = tuple(s[:size] for s in state)
            state = step(gi, state, w_hh, b_hh)
            outputs.append(state[0])
        if finished:
            state = tuple(
                cat([s] + [rows[k] for rows in reversed(finished)])
                for k, s in enumerate(state)
            )
        return outputs, state
    size = batch_sizes[-1]
    state = tuple(s[:size] for s in state0) if size < state0[0].shape[0] else state0
    for t in range(len(gis) - 1, -1, -1):
        size = batch_sizes[t]
        live = state[0].shape[0]
        if size > live:
            # sequences that start at this step join with their initial state
            state = tuple(cat([s, s0[live:size]]) for s, s0 in zip(state, state0))
        state = step(gis[t], state, w_hh, b_hh)
        outputs.append(state[0])
    outputs.reverse()
    return outputs, state


class RNNBase(Module):
    """Parameters, checks and the layer loop shared by ``RNN``, ``LSTM``, ``GRU``."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        check_positive_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool):
            raise TypeError(
                f"{name}: `num_layers` should be of type int, got: "
                f"{type(num_layers).__name__}"
            )
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the "
                "probability of an element being zeroed"
            )
        if proj_size:
            raise NotImplementedError(
                f"{name}: `proj_size={proj_size}` (LSTM with projections) is not "
                "supported yet"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so "
                "non-zero dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=3,
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        dtype = dtype or _dtype.get_default_dtype()
        directions = 2 if bidirectional else 1
        rows = GATES[mode] * hidden_size

        def new(*shape: int) -> Parameter:
            return Parameter(empty(*shape, dtype=dtype, device=device))

        names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes: list[tuple[int, ...]] = [
                    (rows, layer_input),
                    (rows, hidden_size),
                ]
                kinds = ["weight_ih", "weight_hh"]
                if bias:
                    shapes += [(rows,), (rows,)]
                    kinds += ["bias_ih", "bias_hh"]
                for kind, shape in zip(kinds, shapes):
                    setattr(self, kind + suffix, new(*shape))
                    names.append(kind + suffix)
        self._flat_weights_names = names
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """A no-op, for PyTorch code that calls it (weights are never fused)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters of each layer and direction, as lists."""
        per = 4 if self.bias else 2
        weights = self._flat_weights
        return [weights[i : i + per] for i in range(0, len(weights), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -------------------------------------------------------------- forward

    def _name(self) -> str:
        return type(self).__name__

    def _check_hidden(
        self, hx: Any, expected: tuple, batched: bool, what: str
    ) -> Tensor:
        """Validate one initial state and return it batched (L * D, batch, H)."""
        if not isinstance(hx, Tensor):
            raise TypeError(
                f"{self._name()}: `{what}` must be a Tensor, got {type(hx).__name__}"
            )
        dims = 3 if batched else 2
        if hx.dim() != dims:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(
                f"{self._name()}: for {kind} input, `{what}` should also be "
                f"{dims}-D but got a {hx.dim()}-D tensor (shape {tuple(hx.shape)})"
            )
        if not batched:
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != expected:
            given = list(hx.shape if batched else hx.squeeze(1).shape)
            want = expected if batched else (expected[0], expected[2])
            raise RuntimeError(
                f"{self._name()}: Expected {what} size {want}, got {given}"
            )
        weight_dtype = self._flat_weights[0].dtype
        if hx.dtype != weight_dtype:
            raise ValueError(
                f"{self._name()}: `{what}` dtype ({hx.dtype}) does not match weight "
                f"dtype ({weight_dtype})"
            )
        return hx

    def _forward(self, input: Any, hx: Any) -> tuple:
        """The shared forward; ``hx`` is a tuple of states (or None)."""
        name = self._name()
        packed = isinstance(input, PackedSequence)
        batched = True
        if packed:
            data = input.data  # (sum of lengths, in)
            sizes = [int(n) for n in input.batch_sizes._data]
            batch = sizes[0]
        else:
            if not isinstance(input, Tensor):
                raise TypeError(
                    f"{name}: `input` must be a Tensor or a PackedSequence, got "
                    f"{type(input).__name__}"
                )
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead"
                )
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(1)
            if self.batch_first and batched:
                x = x.transpose(0, 1)
            steps, batch = x.shape[0], x.shape[1]  # x: (time, batch, in)
            data = x.reshape(steps * batch, x.shape[2])
            sizes = [batch] * steps
        if data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {data.shape[-1]}"
            )
        weight_dtype = self._flat_weights[0].dtype
        if data.dtype != weight_dtype:
            raise ValueError(
                f"{name}: input dtype ({data.dtype}) does not match weight dtype "
                f"({weight_dtype}). Convert input: "
                f"input.to({weight_dtype}), or convert model: "
                f"model.to({data.dtype})"
            )

        directions = 2 if self.bidirectional else 1
        expected = (self.num_layers * directions, batch, self.hidden_size)
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            states = tuple(zeros(*expected, dtype=data.dtype) for _ in range(n_states))
        else:
            what = ["hidden[0]", "hidden[1]"] if n_states == 2 else ["hidden"]
            states = tuple(
                self._check_hidden(h, expected, batched, w) for h, w in zip(hx, what)
            )
            if packed and input.sorted_indices is not None:
                states = tuple(index_select(s, 1, input.sorted_indices) for s in states)

        step = STEPS[self.mode]
        layer_input = data
        finals = []  # one state tuple per layer and direction
        for layer in range(self.num_layers):
            if layer and self.training and self.dropout > 0:
                layer_input = _dropout(layer_input, self.dropout)
            outputs = []
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                w_ih = getattr(self, "weight_ih" + suffix)
                w_hh = getattr(self, "weight_hh" + suffix)
                b_ih = getattr(self, "bias_ih" + suffix, None)
                b_hh = getattr(self, "bias_hh" + suffix, None)
                gi = linear(layer_input, w_ih, b_ih)  # (rows, gates * hidden)
                gis = _split_steps(gi, sizes)
                index = layer * directions + direction
                state0 = tuple(s[index] for s in states)  # (batch, hidden) each
                outs, final = _run_direction(
                    step, gis, sizes, state0, w_hh, b_hh, bool(direction)
                )
                outputs.append(cat(outs) if len(outs) > 1 else outs[0])
                finals.append(final)
            layer_input = outputs[0] if directions == 1 else cat(outputs, 1)

        out = layer_input  # (rows, directions * hidden)
        h_n = tuple(stack([f[k] for f in finals]) for k in range(n_states))
        if packed:
            if input.unsorted_indices is not None:
                h_n = tuple(index_select(h, 1, input.unsorted_indices) for h in h_n)
            output = PackedSequence(
                out, input.batch_sizes, input.sorted_indices, input.unsorted_indices
            )
            return output, h_n
        out = out.reshape(len(sizes), batch, out.shape[-1])
        if not batched:
            return out.squeeze(1), tuple(h.squeeze(1) for h in h_n)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n


class RNN(RNNBase):
    """A multi-layer Elman RNN.

    Per step: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or
    relu).

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        num_layers: stacked layers (default 1).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        bias: learn ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are (batch, time, feature).
        dropout: dropout on the outputs of every layer but the last, in
            training mode only (default 0).
        bidirectional: add a second direction running backwards in time.

    Shape:
        input: (time, batch, input_size), (batch, time, input_size) with
        ``batch_first``, (time, input_size) unbatched, or a ``PackedSequence``;
        h_0: (num_layers * directions, batch, hidden_size), zeros when
        omitted; output: (time, batch, directions * hidden_size) (or packed,
        like the input); h_n: like h_0, the state at each sequence's last step.

    Example:
        >>> import plaingrad as torch
        >>> rnn = torch.nn.RNN(3, 5, num_layers=2)
        >>> output, h_n = rnn(torch.randn(7, 2, 3))
        >>> output.shape, h_n.shape
        (plaingrad.Size([7, 2, 5]), plaingrad.Size([2, 2, 5]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple:
        output, (h_n,) = self._forward(input, None if hx is None else (hx,))
        return output, h_n


class LSTM(RNNBase):
    """A multi-layer long short-term memory network.

    Per step, with gates (input, forget, cell, output) stacked in that order in
    the rows of ``weight_ih_l{k}`` and ``weight_hh_l{k}``:
    ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)``.

    Args:
        input_size: features of the input.
        hidden_size: features of ``h`` and ``c``.
        num_layers: stacked layers (default 1).
        bias: learn ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are (batch, time, feature).
        dropout: dropout on the outputs of every layer but the last, in
            training mode only (default 0).
        bidirectional: add a second direction running backwards in time.
        proj_size: must be 0; projections are not supported yet.

    Shape:
        input: (time, batch, input_size), (batch, time, input_size) with
        ``batch_first``, (time, input_size) unbatched, or a ``PackedSequence``;
        (h_0, c_0): each (num_layers * directions, batch, hidden_size), zeros
        when omitted; output: (time, batch, directions * hidden_size) (or
        packed); (h_n, c_n): like (h_0, c_0).

    Example:
        >>> import plaingrad as torch
        >>> lstm = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True)
        >>> output, (h_n, c_n) = lstm(torch.randn(2, 7, 3))
        >>> output.shape, h_n.shape
        (plaingrad.Size([2, 7, 10]), plaingrad.Size([2, 2, 5]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype,
        )  # fmt: skip

    def forward(self, input: Any, hx: tuple | None = None) -> tuple:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(
                "LSTM: `hx` must be a pair of tensors (h_0, c_0), got "
                f"{type(hx).__name__}"
            )
        return self._forward(input, hx)


class GRU(RNNBase):
    """A multi-layer gated recurrent unit network.

    Per step, with gates (reset, update, new) stacked in that order in the rows
    of ``weight_ih_l{k}`` and ``weight_hh_l{k}``:
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and
    ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        num_layers: stacked layers (default 1).
        bias: learn ``b_ih`` and ``b_hh`` (default True).
        batch_first: input and output are (batch, time, feature).
        dropout: dropout on the outputs of every layer but the last, in
            training mode only (default 0).
        bidirectional: add a second direction running backwards in time.

    Shape:
        as ``RNN``.

    Example:
        >>> import plaingrad as torch
        >>> gru = torch.nn.GRU(3, 5)
        >>> output, h_n = gru(torch.randn(7, 3))  # unbatched
        >>> output.shape, h_n.shape
        (plaingrad.Size([7, 5]), plaingrad.Size([1, 5]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype,
        )  # fmt: skip

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple:
        output, (h_n,) = self._forward(input, None if hx is None else (hx,))
        return output, h_n
