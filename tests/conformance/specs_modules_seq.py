"""nn modules of issue 3 that run over sequences: recurrent layers and cells,
``nn.utils.rnn`` packing, attention and transformers.

The conventions are specs_modules.py's: torch's seeded state is copied into
plaingrad's by name, then outputs, input and parameter gradients and second
derivatives are compared with torch's. Sizes stay tiny (features 2-4, hidden 3,
sequences of 1-3 steps, batches of 1-2, unbatched input too) since every finite
difference repeats the whole recurrence: the main rows run gradcheck and
gradgradcheck on their small cases with one sampled parameter, the variants
rely on the comparison with torch. Dropout is 0 so that the libraries' random
streams do not matter. Initial states are inputs (so their gradients are
compared too); a variable-length batch is packed with ``pack_padded_sequence``
inside ``call`` and unpacked after the layer, which checks PackedSequence
input, ``h_n`` at each sequence's own last step and the gradient through both
conversions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from .harness import SMOOTH, ModuleSpec, OpSpec, floats
from .specs_modules import CONTRACTION, small, torch_only


def _rnn(lib: Any) -> Any:
    return lib.nn.utils.rnn


def _lib_of(t: Any) -> Any:
    """plaingrad or torch, whichever ``t`` is a tensor of (for use in ``call``)."""
    return __import__(type(t).__module__.split(".")[0])


@st.composite
def _sequence(
    draw: Any,
    features: int,
    hidden: int = 0,
    states: int = 0,
    stack: int = 1,
    batch_first: bool = False,
) -> tuple:
    """(x, *initial states): x is (L, N, features) (batch_first: (N, L, ...)) or
    unbatched (L, features); each state is (stack, N, hidden) or (stack, hidden)."""
    steps = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([None, 1, 2]))
    if batch is None:
        shape: tuple = (steps, features)
    else:
        shape = (batch, steps, features) if batch_first else (steps, batch, features)
    x = draw(floats(shape, edges=CONTRACTION))
    state_shape = (stack, hidden) if batch is None else (stack, batch, hidden)
    return (x, *(draw(floats(state_shape, edges=CONTRACTION)) for _ in range(states)))


@st.composite
def _cell_input(draw: Any, features: int, hidden: int, states: int) -> tuple:
    """(x, *states) for a cell: (N, features) and (N, hidden), or unbatched."""
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    x = draw(floats((*batch, features), edges=CONTRACTION))
    return (
        x,
        *(draw(floats((*batch, hidden), edges=CONTRACTION)) for _ in range(states)),
    )


@st.composite
def _padded(draw: Any, features: int = 2, batch_first: bool = False) -> tuple:
    """(x, lengths): a padded batch (T, B, features) and lengths in [1, T]."""
    steps, batch = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return draw(floats(shape, edges=CONTRACTION)), lengths


@st.composite
def _sequences(draw: Any) -> tuple:
    """One to three sequences (L_i, 2) of lengths 0-3 (pad_sequence's input)."""
    count = draw(st.integers(1, 3))
    return tuple(
        draw(floats((draw(st.integers(0, 3)), 2), edges=SMOOTH)) for _ in range(count)
    )


def _packed_lstm(module: Any, x: Any, lengths: list) -> Any:
    """Pack (unsorted lengths), run, unpack: (padded output, h_n, c_n)."""
    lib = _lib_of(x)
    packed = _rnn(lib).pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, (h, c) = module(packed)
    padded, out_lengths = _rnn(lib).pad_packed_sequence(out, total_length=x.shape[0])
    return padded, out_lengths, h, c


def _packed_gru(module: Any, x: Any, lengths: list) -> Any:
    lib = _lib_of(x)
    packed = _rnn(lib).pack_padded_sequence(x, lengths, batch_first=True)
    out, h = module(packed)
    return out.data, out.batch_sizes, h


def _sorted_padded(case: tuple) -> tuple:
    x, lengths = case
    return x, sorted(lengths, reverse=True)


@st.composite
def _attention(
    draw: Any, embed: int, kdim: int, vdim: int, masks: bool, batch_first: bool
) -> tuple:
    """(query, key, value[, key_padding_mask, attn_mask]) for MultiheadAttention.

    The key padding mask (True = ignore) leaves every row one key; the attention
    mask is additive (a float input, so its gradient is compared too).
    """
    q_len, s_len = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.sampled_from([None, 1, 2]))

    def shape(length: int, width: int) -> tuple:
        if batch is None:
            return (length, width)
        return (batch, length, width) if batch_first else (length, batch, width)

    q = draw(floats(shape(q_len, embed), edges=CONTRACTION))
    k = draw(floats(shape(s_len, kdim), edges=CONTRACTION))
    v = draw(floats(shape(s_len, vdim), edges=CONTRACTION))
    if not masks:
        return q, k, v
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = 1 if batch is None else batch
    ignore = rng.random((rows, s_len)) < 0.4
    ignore[np.arange(rows), rng.integers(0, s_len, rows)] = False
    if batch is None:
        ignore = ignore[0]
    attn_mask = rng.uniform(-1.0, 1.0, (q_len, s_len))
    return q, k, v, ignore, attn_mask


def _causal(lib: Any, size: int, dtype: Any) -> Any:
    """An additive causal mask, built the same way in both libraries."""
    return lib.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype)


def _encoder_call(m: Any, x: Any, pad: Any) -> Any:
    lib = _lib_of(x)
    mask = _causal(lib, x.shape[0], x.dtype)
    return m(x, mask=mask, src_key_padding_mask=pad)


# Transformer inputs: ordinary values only. "ties" and "zeros" give constant
# feature vectors, which reach a LayerNorm with zero variance: gradients of 1e3
# through 1/sqrt(eps) whose cancelling sums keep float32 rounding far above
# issue 3's atol (F.layer_norm's own specs meet constant rows); "large" is a
# contraction's problem (CONTRACTION).
LAYER_EDGES = ("normal",)


@st.composite
def _src_and_pad(draw: Any, batch_first: bool = False) -> tuple:
    """(src, key padding mask (N, S), True = ignore): key 0 is always kept, since
    the causal mask leaves the first query nothing else."""
    steps, batch = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    shape = (batch, steps, 4) if batch_first else (steps, batch, 4)
    x = draw(floats(shape, edges=LAYER_EDGES))
    pad = np.array(
        draw(st.lists(st.booleans(), min_size=batch * steps, max_size=batch * steps))
    )
    pad = pad.reshape(batch, steps)
    pad[:, 0] = False
    return x, pad


@st.composite
def _tgt_and_memory(draw: Any, batch_first: bool = False) -> tuple:
    """(tgt, memory), each (length, N, 4) (batch_first: (N, length, 4))."""
    t_len, s_len, batch = (draw(st.integers(1, n)) for n in (3, 3, 2))

    def shape(length: int) -> tuple:
        return (batch, length, 4) if batch_first else (length, batch, 4)

    return draw(floats(shape(t_len), edges=LAYER_EDGES)), draw(
        floats(shape(s_len), edges=LAYER_EDGES)
    )


def _decoder_call(m: Any, tgt: Any, memory: Any) -> Any:
    lib = _lib_of(tgt)
    length = tgt.shape[1] if m.self_attn.batch_first else tgt.shape[0]
    return m(tgt, memory, tgt_mask=_causal(lib, length, tgt.dtype), tgt_is_causal=True)


def _transformer_call(m: Any, src: Any, tgt: Any) -> Any:
    lib = _lib_of(src)
    return m(src, tgt, tgt_mask=_causal(lib, tgt.shape[0], tgt.dtype))


def _varied(*inputs: Any) -> bool:
    """fd_ok of the transformers: no constant feature vector among the float
    inputs. At one (zeros, say) a LayerNorm sees zero variance, its curvature
    scale is sqrt(eps), and finite differences fail for torch's gradcheck too."""
    for x in inputs:
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            if x.size and np.min(np.std(x, axis=-1)) < 1e-2:
                return False
    return True


def _layer(lib: Any, **options: Any) -> Any:
    return lib.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, **options)


ONE = 0.34  # one generated case, for the costliest forwards (transformers)
TWO = 0.67

SPECS = [
    # ------------------------------------------------------------ recurrent
    ModuleSpec(
        "nn.RNN",
        lambda lib: lib.nn.RNN(2, 3, num_layers=2),
        _sequence(2, 3, states=1, stack=2),
        fd_ok=small(8),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.RNN(relu, bidirectional, batch_first, no bias)",
        lambda lib: lib.nn.RNN(
            2, 3, nonlinearity="relu", bidirectional=True, batch_first=True, bias=False
        ),
        _sequence(2, batch_first=True),
        fd_ok=torch_only,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.LSTM",
        lambda lib: lib.nn.LSTM(2, 3, num_layers=2),
        _sequence(2, 3, states=2, stack=2),
        call=lambda m, x, h, c: m(x, (h, c)),
        fd_ok=small(14),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.LSTM(bidirectional, batch_first, no state)",
        lambda lib: lib.nn.LSTM(
            2, 3, num_layers=2, bidirectional=True, batch_first=True
        ),
        _sequence(2, batch_first=True),
        fd_ok=torch_only,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.LSTM(dropout, eval)",
        lambda lib: lib.nn.LSTM(2, 3, num_layers=2, dropout=0.5),
        _sequence(2),
        train=False,
        fd_ok=torch_only,
        examples_scale=TWO,
        note="dropout between layers is off in eval mode",
    ),
    ModuleSpec(
        "nn.LSTM(packed)",
        lambda lib: lib.nn.LSTM(2, 3),
        _padded(),
        call=_packed_lstm,
        fd_ok=torch_only,
        examples_scale=TWO,
        note="unsorted lengths; h_n and c_n at each sequence's last step",
    ),
    ModuleSpec(
        "nn.GRU",
        lambda lib: lib.nn.GRU(2, 3, num_layers=2),
        _sequence(2, 3, states=1, stack=2),
        fd_ok=small(8),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.GRU(bidirectional, packed, no bias)",
        lambda lib: lib.nn.GRU(2, 3, bidirectional=True, batch_first=True, bias=False),
        _padded(batch_first=True).map(_sorted_padded),
        call=_packed_gru,
        fd_ok=torch_only,
        examples_scale=TWO,
        note="sorted lengths (enforce_sorted); PackedSequence output compared",
    ),
    ModuleSpec(
        "nn.RNNCell",
        lambda lib: lib.nn.RNNCell(2, 3),
        _cell_input(2, 3, 1),
        fd_ok=small(10),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.RNNCell(relu, no state)",
        lambda lib: lib.nn.RNNCell(3, 2, nonlinearity="relu"),
        _cell_input(3, 2, 0),
        fd_ok=torch_only,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.LSTMCell",
        lambda lib: lib.nn.LSTMCell(2, 3),
        _cell_input(2, 3, 2),
        call=lambda m, x, h, c: m(x, (h, c)),
        fd_ok=small(10),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.LSTMCell(no state, no bias)",
        lambda lib: lib.nn.LSTMCell(2, 3, bias=False),
        _cell_input(2, 3, 0),
        fd_ok=torch_only,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.GRUCell",
        lambda lib: lib.nn.GRUCell(2, 3),
        _cell_input(2, 3, 1),
        fd_ok=small(10),
        params_checked=1,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.GRUCell(no state)",
        lambda lib: lib.nn.GRUCell(2, 3),
        _cell_input(2, 3, 0),
        fd_ok=torch_only,
        examples_scale=TWO,
    ),
    # ------------------------------------------------------- nn.utils.rnn
    OpSpec(
        "nn.utils.rnn.pack_padded_sequence",
        lambda lib, x, lengths: _rnn(lib).pack_padded_sequence(
            x, lengths, enforce_sorted=False
        ),
        _padded(),
        note="unsorted lengths: data, batch_sizes, sorted and unsorted indices",
    ),
    OpSpec(
        "nn.utils.rnn.pack_padded_sequence(batch_first, sorted)",
        lambda lib, x, lengths: _rnn(lib).pack_padded_sequence(
            x, lib.tensor(lengths), batch_first=True
        ),
        _padded(batch_first=True).map(_sorted_padded),
    ),
    OpSpec(
        "nn.utils.rnn.pad_packed_sequence",
        lambda lib, x, lengths: _rnn(lib).pad_packed_sequence(
            _rnn(lib).pack_padded_sequence(x, lengths, enforce_sorted=False),
            padding_value=-1.5,
            total_length=4,
        ),
        _padded(),
    ),
    OpSpec(
        "nn.utils.rnn.pad_packed_sequence(batch_first)",
        lambda lib, x, lengths: _rnn(lib).pad_packed_sequence(
            _rnn(lib).pack_padded_sequence(x, lengths, batch_first=True),
            batch_first=True,
        ),
        _padded(batch_first=True).map(_sorted_padded),
    ),
    OpSpec(
        "nn.utils.rnn.pad_sequence",
        lambda lib, *xs: _rnn(lib).pad_sequence(list(xs)),
        _sequences(),
    ),
    OpSpec(
        "nn.utils.rnn.pad_sequence(batch_first, left, value)",
        lambda lib, *xs: _rnn(lib).pad_sequence(
            list(xs), batch_first=True, padding_value=2.5, padding_side="left"
        ),
        _sequences(),
    ),
    # ------------------------------------------------------------ attention
    ModuleSpec(
        "nn.MultiheadAttention",
        lambda lib: lib.nn.MultiheadAttention(4, 2),
        _attention(4, 4, 4, masks=False, batch_first=False),
        fd_ok=small(12),
        params_checked=1,
        examples_scale=TWO,
        note="returned weights averaged over heads",
    ),
    ModuleSpec(
        "nn.MultiheadAttention(masks, batch_first, per head)",
        lambda lib: lib.nn.MultiheadAttention(4, 2, batch_first=True),
        _attention(4, 4, 4, masks=True, batch_first=True),
        call=lambda m, q, k, v, pad, mask: m(
            q, k, v, key_padding_mask=pad, attn_mask=mask, average_attn_weights=False
        ),
        fd_ok=torch_only,
        examples_scale=TWO,
        note="bool key_padding_mask (True ignores) with an additive float attn_mask",
    ),
    ModuleSpec(
        "nn.MultiheadAttention(kdim, vdim, no bias, no weights)",
        lambda lib: lib.nn.MultiheadAttention(4, 1, kdim=3, vdim=2, bias=False),
        _attention(4, 3, 2, masks=False, batch_first=False),
        call=lambda m, q, k, v: m(q, k, v, need_weights=False),
        examples_scale=TWO,
        note="separate q/k/v projection weights; need_weights=False returns None",
    ),
    # ---------------------------------------------------------- transformer
    # torch has no double backward through its CPU attention kernel, so these
    # record "n/a" there and gradgradcheck does not run: gradcheck is cheap.
    ModuleSpec(
        "nn.TransformerEncoderLayer",
        lambda lib: _layer(lib),
        _src_and_pad().map(lambda case: case[0]),
        fd_ok=_varied,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.TransformerEncoderLayer(norm_first, gelu, batch_first, masks)",
        lambda lib: _layer(lib, activation="gelu", norm_first=True, batch_first=True),
        _src_and_pad(batch_first=True),
        call=lambda m, x, pad: m(
            x,
            src_mask=_causal(_lib_of(x), x.shape[1], x.dtype),
            src_key_padding_mask=pad,
            is_causal=True,
        ),
        fd_ok=_varied,
        examples_scale=ONE,
    ),
    ModuleSpec(
        "nn.TransformerDecoderLayer",
        lambda lib: lib.nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0),
        _tgt_and_memory(),
        call=_decoder_call,
        fd_ok=_varied,
        examples_scale=TWO,
    ),
    ModuleSpec(
        "nn.TransformerDecoderLayer(norm_first, gelu, batch_first)",
        lambda lib: lib.nn.TransformerDecoderLayer(
            4, 2, 6, dropout=0.0, activation="gelu", norm_first=True, batch_first=True
        ),
        _tgt_and_memory(batch_first=True),
        call=_decoder_call,
        fd_ok=_varied,
        examples_scale=ONE,
    ),
    ModuleSpec(
        "nn.TransformerEncoder",
        lambda lib: lib.nn.TransformerEncoder(
            _layer(lib), 2, norm=lib.nn.LayerNorm(4), enable_nested_tensor=False
        ),
        _src_and_pad(),
        call=_encoder_call,
        fd_ok=_varied,
        examples_scale=ONE,
        note="two layers deep-copied from one, a final LayerNorm, causal mask",
    ),
    ModuleSpec(
        "nn.Transformer",
        lambda lib: lib.nn.Transformer(
            4,
            2,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dim_feedforward=6,
            dropout=0.0,
        ),
        _tgt_and_memory(),
        call=_transformer_call,
        fd_ok=_varied,
        examples_scale=ONE,
    ),
]
