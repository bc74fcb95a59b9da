"""``nn.RNN`` / ``LSTM`` / ``GRU``, their cells and ``nn.utils.rnn``.

Each comparison builds a layer in real PyTorch, copies its state dict into the
plaingrad layer through NumPy, runs both on the same input and initial states,
backpropagates the same random output gradients and compares outputs, final
states and the gradients of every parameter, the input and the initial states.
"""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.nn.utils import rnn as pg_rnn

TOL = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}
SEQ, BATCH, IN, HIDDEN = 5, 3, 4, 3
# Unsorted on purpose: packing with enforce_sorted=False must reorder.
LENGTHS = [3, 5, 1]


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _close(got: Any, expected: Any, dtype: str, what: str) -> None:
    rtol, atol = TOL[dtype]
    got_np = got.detach().numpy() if hasattr(got, "detach") else np.asarray(got)
    exp_np = expected.detach().numpy()
    assert got_np.shape == exp_np.shape, f"{what}: {got_np.shape} vs {exp_np.shape}"
    np.testing.assert_allclose(got_np, exp_np, rtol=rtol, atol=atol, err_msg=what)


def _layer_pair(torch: ModuleType, kind: str, dtype: str, **kwargs: Any) -> tuple:
    """The same layer (``RNN``, ``LSTM``, ``GRUCell`` ...) in torch and plaingrad."""
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(**kwargs).to(getattr(torch, dtype))
    ours = getattr(pg.nn, kind)(**kwargs).to(getattr(pg, dtype))
    state = {k: pg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()}
    result = ours.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    return ours, ref


def _leaf(lib: ModuleType, array: np.ndarray, dtype: str) -> Any:
    return lib.tensor(array.astype(dtype), requires_grad=True)


def _backward_and_compare(
    pg_outs: list, torch_outs: list, pairs: list, dtype: str
) -> None:
    """Compare outputs; backpropagate one set of seeds; compare the gradients."""
    rng = np.random.default_rng(7)
    seeds = []
    for k, (p, t) in enumerate(zip(pg_outs, torch_outs)):
        _close(p, t, dtype, f"output {k}")
        seeds.append(rng.standard_normal(tuple(t.shape)))
    # One scalar loss rather than autograd.backward(outputs, seeds): outputs
    # here depend on each other (h_n is part of output), and plaingrad's engine
    # over-counts a root that is also an interior node (see the report).
    for lib, outs in ((pg, pg_outs), (import_torch(), torch_outs)):
        loss = sum((o * lib.tensor(s.astype(dtype))).sum() for o, s in zip(outs, seeds))
        loss.backward()
    for name, p, t in pairs:
        assert p.grad is not None, f"{name}: no gradient"
        _close(p.grad, t.grad, dtype, f"grad of {name}")


def _named(ours: Any, ref: Any) -> list:
    ref_params = dict(ref.named_parameters())
    return [(n, p, ref_params[n]) for n, p in ours.named_parameters()]


# ------------------------------------------------------------ layers vs torch

KINDS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu"}),
    ("LSTM", {}),
    ("GRU", {}),
]
# (num_layers, bidirectional, batch_first, packed, initial state, bias)
CONFIGS = [
    (1, False, False, False, False, True),
    (1, False, True, False, True, True),
    (2, False, False, False, True, True),
    (1, True, False, False, False, True),
    (2, True, True, False, True, False),
    (1, False, False, True, False, True),
    (2, True, False, True, True, True),
    (2, True, True, True, False, False),
]


def _config_id(config: tuple) -> str:
    layers, bidir, batch_first, packed, init_state, bias = config
    parts = [f"L{layers}", "bi" if bidir else "uni"]
    parts += ["bf"] if batch_first else []
    parts += ["packed"] if packed else []
    parts += ["h0"] if init_state else []
    parts += [] if bias else ["nobias"]
    return "-".join(parts)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("kind,extra", KINDS, ids=["rnn", "rnn_relu", "lstm", "gru"])
def test_layer_matches_torch(
    torch: ModuleType, kind: str, extra: dict, config: tuple, dtype: str
) -> None:
    layers, bidir, batch_first, packed, init_state, bias = config
    ours, ref = _layer_pair(
        torch,
        kind,
        dtype,
        input_size=IN,
        hidden_size=HIDDEN,
        num_layers=layers,
        bidirectional=bidir,
        batch_first=batch_first,
        bias=bias,
        **extra,
    )
    rng = np.random.default_rng(0)
    shape = (BATCH, SEQ, IN) if batch_first else (SEQ, BATCH, IN)
    x_np = rng.standard_normal(shape)
    state_shape = (layers * (2 if bidir else 1), BATCH, HIDDEN)
    n_states = 2 if kind == "LSTM" else 1
    states_np = [rng.standard_normal(state_shape) for _ in range(n_states)]

    def run(lib: ModuleType, model: Any, rnn_utils: Any) -> tuple:
        x = _leaf(lib, x_np, dtype)
        states = [_leaf(lib, s, dtype) for s in states_np] if init_state else []
        hx = None
        if init_state:
            hx = tuple(states) if kind == "LSTM" else states[0]
        inp = x
        if packed:
            inp = rnn_utils.pack_padded_sequence(
                x, LENGTHS, batch_first=batch_first, enforce_sorted=False
            )
        out, h = model(inp, hx)
        if packed:
            assert isinstance(out, rnn_utils.PackedSequence)
            out, lengths = rnn_utils.pad_packed_sequence(out, batch_first=batch_first)
            assert lengths.tolist() == LENGTHS
        finals = list(h) if kind == "LSTM" else [h]
        return [out] + finals, [x] + states

    pg_outs, pg_leaves = run(pg, ours, pg_rnn)
    torch_outs, torch_leaves = run(torch, ref, torch.nn.utils.rnn)
    pairs = _named(ours, ref)
    names = ["input", "h0", "c0"]
    pairs += [(n, p, t) for n, p, t in zip(names, pg_leaves, torch_leaves)]
    _backward_and_compare(pg_outs, torch_outs, pairs, dtype)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("init_state", [False, True])
def test_unbatched_input_matches_torch(
    torch: ModuleType, kind: str, init_state: bool
) -> None:
    dtype = "float64"
    ours, ref = _layer_pair(
        torch, kind, dtype, input_size=IN, hidden_size=HIDDEN, num_layers=2,
        bidirectional=True, batch_first=True,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((SEQ, IN))
    states_np = [rng.standard_normal((4, HIDDEN)) for _ in range(2)]

    def run(lib: ModuleType, model: Any) -> tuple:
        x = _leaf(lib, x_np, dtype)
        states = [_leaf(lib, s, dtype) for s in states_np]
        hx = None
        if init_state:
            hx = tuple(states) if kind == "LSTM" else states[0]
        out, h = model(x, hx)
        finals = list(h) if kind == "LSTM" else [h]
        return [out] + finals, [x]

    pg_outs, pg_leaves = run(pg, ours)
    torch_outs, torch_leaves = run(torch, ref)
    assert tuple(pg_outs[0].shape) == (SEQ, 2 * HIDDEN)
    pairs = _named(ours, ref) + [("input", pg_leaves[0], torch_leaves[0])]
    _backward_and_compare(pg_outs, torch_outs, pairs, dtype)


def test_packed_sorted_and_lengths_as_tensor(torch: ModuleType) -> None:
    dtype = "float64"
    ours, ref = _layer_pair(torch, "LSTM", dtype, input_size=IN, hidden_size=HIDDEN)
    x_np = np.random.default_rng(2).standard_normal((SEQ, BATCH, IN))
    lengths = [5, 3, 3]

    def run(lib: ModuleType, rnn_utils: Any, model: Any) -> tuple:
        x = _leaf(lib, x_np, dtype)
        packed = rnn_utils.pack_padded_sequence(x, lib.tensor(lengths))
        assert packed.sorted_indices is None
        out, (h, c) = model(packed)
        return [out.data, h, c], [x]

    pg_outs, pg_leaves = run(pg, pg_rnn, ours)
    torch_outs, torch_leaves = run(torch, torch.nn.utils.rnn, ref)
    pairs = _named(ours, ref) + [("input", pg_leaves[0], torch_leaves[0])]
    _backward_and_compare(pg_outs, torch_outs, pairs, dtype)


# ------------------------------------------------------------- cells vs torch


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("init_state", [False, True], ids=["zeros", "hx"])
@pytest.mark.parametrize(
    "kind,extra",
    [
        ("RNNCell", {}),
        ("RNNCell", {"nonlinearity": "relu", "bias": False}),
        ("LSTMCell", {}),
        ("GRUCell", {}),
        ("GRUCell", {"bias": False}),
    ],
    ids=["rnn", "rnn_relu_nobias", "lstm", "gru", "gru_nobias"],
)
def test_cell_matches_torch(
    torch: ModuleType,
    kind: str,
    extra: dict,
    init_state: bool,
    batched: bool,
    dtype: str,
) -> None:
    ours, ref = _layer_pair(torch, kind, dtype, input_size=IN, hidden_size=HIDDEN)
    rng = np.random.default_rng(3)
    lead = (BATCH,) if batched else ()
    x_np = rng.standard_normal(lead + (IN,))
    states_np = [rng.standard_normal(lead + (HIDDEN,)) for _ in range(2)]

    def run(lib: ModuleType, model: Any) -> tuple:
        x = _leaf(lib, x_np, dtype)
        states = [_leaf(lib, s, dtype) for s in states_np]
        hx = None
        if init_state:
            hx = tuple(states) if kind == "LSTMCell" else states[0]
        out = model(x, hx)
        outs = list(out) if kind == "LSTMCell" else [out]
        # a second step feeds the state back in, as a training loop would
        out2 = model(x, tuple(outs) if kind == "LSTMCell" else outs[0])
        outs += list(out2) if kind == "LSTMCell" else [out2]
        return outs, [x] + (states if init_state else [])

    pg_outs, pg_leaves = run(pg, ours)
    torch_outs, torch_leaves = run(torch, ref)
    pairs = _named(ours, ref)
    pairs += [(n, p, t) for n, p, t in zip(["x", "h0", "c0"], pg_leaves, torch_leaves)]
    if kind != "LSTMCell":
        pairs = [p for p in pairs if p[0] != "c0"]
    _backward_and_compare(pg_outs, torch_outs, pairs, dtype)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(kind: str) -> None:
    pg.manual_seed(0)
    cell = getattr(pg.nn, kind)(2, 2).double()
    rng = np.random.default_rng(4)
    x = pg.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    h = pg.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    c = pg.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    params = list(cell.parameters())

    # gradcheck perturbs its inputs in place, and the cell reads the same
    # parameter objects, so they are checked too.
    def fn(x: Any, h: Any, c: Any, *weights: Any) -> Any:
        state = (h, c) if kind == "LSTMCell" else h
        return cell(x, state)

    assert pg.autograd.gradcheck(fn, (x, h, c, *params))


def test_layer_gradcheck() -> None:
    pg.manual_seed(0)
    gru = pg.nn.GRU(2, 2, bidirectional=True).double()
    rng = np.random.default_rng(5)
    x = pg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = pg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    packed_lengths = [3, 1]

    def fn(x: Any, h0: Any) -> tuple:
        packed = pg_rnn.pack_padded_sequence(x, packed_lengths)
        out, h_n = gru(packed, h0)
        return out.data, h_n

    assert pg.autograd.gradcheck(fn, (x, h0))


# -------------------------------------------------- parameters, reprs, init


REPR_CASES = [
    ("RNN", {"input_size": 3, "hidden_size": 4}),
    ("RNN", {"input_size": 3, "hidden_size": 4, "nonlinearity": "relu"}),
    (
        "LSTM",
        {
            "input_size": 3, "hidden_size": 4, "num_layers": 2, "bias": False,
            "batch_first": True, "dropout": 0.5, "bidirectional": True,
        },
    ),
    ("GRU", {"input_size": 3, "hidden_size": 4, "num_layers": 3}),
    ("RNNCell", {"input_size": 3, "hidden_size": 4, "nonlinearity": "relu"}),
    ("LSTMCell", {"input_size": 3, "hidden_size": 4, "bias": False}),
    ("GRUCell", {"input_size": 3, "hidden_size": 4}),
]  # fmt: skip


@pytest.mark.parametrize("kind,kwargs", REPR_CASES)
def test_names_shapes_and_repr_match_torch(
    torch: ModuleType, kind: str, kwargs: dict
) -> None:
    ours = getattr(pg.nn, kind)(**kwargs)
    ref = getattr(torch.nn, kind)(**kwargs)
    assert repr(ours) == repr(ref)
    ours_shapes = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    ref_shapes = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert ours_shapes == ref_shapes
    assert all(p.dtype == pg.float32 for p in ours.parameters())


def test_default_init_is_uniform_in_bound() -> None:
    pg.manual_seed(0)
    hidden = 16
    lstm = pg.nn.LSTM(8, hidden, num_layers=2, bidirectional=True)
    bound = 1 / np.sqrt(hidden)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound
    # U(-b, b): mean 0, variance b^2 / 3, both ends reached
    assert abs(values.mean()) < 0.05 * bound
    assert abs(values.var() - bound**2 / 3) < 0.05 * bound**2
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound


def test_all_weights_and_flatten_parameters() -> None:
    gru = pg.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    gru.flatten_parameters()
    assert len(gru.all_weights) == 4
    assert [tuple(w.shape) for w in gru.all_weights[2]] == [
        (12, 8), (12, 4), (12,), (12,),
    ]  # fmt: skip


# ---------------------------------------------------------------- dropout


def test_dropout_one_matches_torch_in_training(torch: ModuleType) -> None:
    # p = 1 zeroes the second layer's input: deterministic, so comparable.
    ours, ref = _layer_pair(
        torch, "LSTM", "float64", input_size=IN, hidden_size=HIDDEN, num_layers=2,
        dropout=1.0,
    )  # fmt: skip
    x_np = np.random.default_rng(6).standard_normal((SEQ, BATCH, IN))
    out_pg, _ = ours(pg.tensor(x_np))
    out_t, _ = ref(torch.tensor(x_np))
    _close(out_pg, out_t, "float64", "output")


def test_dropout_only_in_training(torch: ModuleType) -> None:
    ours, ref = _layer_pair(
        torch, "GRU", "float64", input_size=IN, hidden_size=HIDDEN, num_layers=2,
        dropout=0.5,
    )  # fmt: skip
    x_np = np.random.default_rng(6).standard_normal((SEQ, BATCH, IN))
    ours.eval()
    ref.eval()
    _close(ours(pg.tensor(x_np))[0], ref(torch.tensor(x_np))[0], "float64", "eval")
    ours.train()
    pg.manual_seed(1)
    first = ours(pg.tensor(x_np))[0].detach().numpy()
    pg.manual_seed(1)
    again = ours(pg.tensor(x_np))[0].detach().numpy()
    np.testing.assert_array_equal(first, again)
    eval_out = ref.eval()(torch.tensor(x_np))[0].detach().numpy()
    assert not np.allclose(first, eval_out)


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        pg.nn.RNN(3, 4, dropout=0.5)


# ------------------------------------------------------ nn.utils.rnn vs torch


@pytest.mark.parametrize(
    "batch_first,padding_side",
    list(itertools.product([False, True], ["right", "left"])),
)
def test_pad_sequence_matches_torch(
    torch: ModuleType, batch_first: bool, padding_side: str
) -> None:
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]

    def run(lib: ModuleType, rnn_utils: Any) -> tuple:
        seqs = [_leaf(lib, a, "float64") for a in arrays]
        out = rnn_utils.pad_sequence(
            seqs, batch_first=batch_first, padding_value=-1.5,
            padding_side=padding_side,
        )  # fmt: skip
        return [out], seqs

    pg_outs, pg_leaves = run(pg, pg_rnn)
    torch_outs, torch_leaves = run(torch, torch.nn.utils.rnn)
    pairs = [(f"seq{i}", p, t) for i, (p, t) in enumerate(zip(pg_leaves, torch_leaves))]
    _backward_and_compare(pg_outs, torch_outs, pairs, "float64")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_pad_packed_match_torch(
    torch: ModuleType, batch_first: bool, enforce_sorted: bool
) -> None:
    lengths = [4, 2, 2, 1] if enforce_sorted else [2, 4, 1, 2]
    shape = (4, 4, 3)  # time and batch both 4: a swapped axis would go unnoticed
    x_np = np.random.default_rng(9).standard_normal(shape)

    def run(lib: ModuleType, rnn_utils: Any) -> tuple:
        x = _leaf(lib, x_np, "float64")
        packed = rnn_utils.pack_padded_sequence(
            x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
        )
        padded, out_lengths = rnn_utils.pad_packed_sequence(
            packed, batch_first=batch_first, padding_value=2.5, total_length=6
        )
        return packed, padded, out_lengths, x

    p_packed, p_padded, p_lengths, p_x = run(pg, pg_rnn)
    t_packed, t_padded, t_lengths, t_x = run(torch, torch.nn.utils.rnn)
    assert p_packed.batch_sizes.tolist() == t_packed.batch_sizes.tolist()
    assert p_packed.batch_sizes.dtype == pg.int64
    for field in ("sorted_indices", "unsorted_indices"):
        p_idx, t_idx = getattr(p_packed, field), getattr(t_packed, field)
        assert (p_idx is None) == (t_idx is None), field
        if t_idx is not None:
            assert p_idx.tolist() == t_idx.tolist(), field
    assert p_lengths.tolist() == t_lengths.tolist()
    _backward_and_compare(
        [p_packed.data, p_padded], [t_packed.data, t_padded], [("x", p_x, t_x)],
        "float64",
    )  # fmt: skip


def test_pack_sequence_round_trip(torch: ModuleType) -> None:
    seqs = [pg.tensor([1.0, 2.0]), pg.tensor([3.0, 4.0, 5.0]), pg.tensor([6.0])]
    packed = pg_rnn.pack_sequence(seqs, enforce_sorted=False)
    ref = torch.nn.utils.rnn.pack_sequence(
        [torch.tensor(s.numpy()) for s in seqs], enforce_sorted=False
    )
    assert packed.data.tolist() == ref.data.tolist()
    assert [s.tolist() for s in pg_rnn.unpack_sequence(packed)] == [
        s.tolist() for s in seqs
    ]
    assert isinstance(packed, tuple) and packed._fields == ref._fields
    assert repr(pg_rnn.PackedSequence(pg.tensor([1]), pg.tensor([1]))) == (
        "PackedSequence(data=tensor([1]), batch_sizes=tensor([1]), "
        "sorted_indices=None, unsorted_indices=None)"
    )


# ------------------------------------------------------------------ errors


def test_layer_errors() -> None:
    lstm = pg.nn.LSTM(3, 4, num_layers=2)
    x = pg.randn(5, 2, 3)
    with pytest.raises(RuntimeError, match="input_size. Expected 3, got 4"):
        lstm(pg.randn(5, 2, 4))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        lstm(pg.randn(5, 2, 2, 3))
    good = pg.zeros(2, 2, 4)
    with pytest.raises(RuntimeError, match=r"hidden\[0\] size \(2, 2, 4\), got \[1"):
        lstm(x, (pg.zeros(1, 2, 4), good))
    with pytest.raises(RuntimeError, match=r"hidden\[1\] size \(2, 2, 4\), got"):
        lstm(x, (good, pg.zeros(2, 3, 4)))
    with pytest.raises(RuntimeError, match="should also be 3-D but got a 2-D"):
        lstm(x, (pg.zeros(2, 4), good))
    with pytest.raises(TypeError, match="pair of tensors"):
        lstm(x, good)
    gru = pg.nn.GRU(3, 4)
    with pytest.raises(RuntimeError, match=r"hidden size \(1, 2, 4\), got \[2, 2, 4\]"):
        gru(x, pg.zeros(2, 2, 4))
    with pytest.raises(RuntimeError, match="unbatched 2-D input"):
        gru(pg.randn(5, 3), pg.zeros(1, 1, 4))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        gru(x.double())


def test_constructor_errors() -> None:
    with pytest.raises(NotImplementedError, match="proj_size"):
        pg.nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        pg.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        pg.nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        pg.nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        pg.nn.RNN(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="`hidden_size` should be of type int"):
        pg.nn.GRUCell(3, 4.0)


def test_cell_errors() -> None:
    cell = pg.nn.LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="inconsistent input_size: got 4 expected 3"):
        cell(pg.randn(2, 4))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(pg.randn(2, 2, 3))
    with pytest.raises(RuntimeError, match="batch size 2 doesn't match hidden0 batch"):
        cell(pg.randn(2, 3), (pg.zeros(3, 4), pg.zeros(3, 4)))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size"):
        cell(pg.randn(2, 3), (pg.zeros(2, 4), pg.zeros(2, 5)))


def test_packing_errors() -> None:
    x = pg.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        pg_rnn.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pg_rnn.pack_padded_sequence(x, [3, 0, 2], enforce_sorted=False)
    with pytest.raises(ValueError, match="longer than the 4 time steps"):
        pg_rnn.pack_padded_sequence(x, [5, 3, 2])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        pg_rnn.pack_padded_sequence(x, [3, 2])
    packed = pg_rnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length"):
        pg_rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(RuntimeError, match="padding_side to be one of left or right"):
        pg_rnn.pad_sequence([x[0]], padding_side="middle")
    with pytest.raises(RuntimeError, match="empty list"):
        pg_rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match=r"sequences\[1\] has shape \(3, 2\)"):
        pg_rnn.pad_sequence([pg.ones(2, 3), pg.ones(3, 2)])
