"""Tensor basics: dtypes, PyTorch's type promotion, attributes and conversions,
creation functions, random streams, printing and copying.

Promotion is compared with real PyTorch over a grid of dtype pairs and of
dimensioned / 0-d / Python-scalar operands.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from conftest import import_torch
from opcheck import dtype_name

import plaingrad as pg
import plaingrad.nn.functional as F

torch = import_torch()

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
]


def _pg_dtype(name: str):
    return pg.bool if name == "bool" else getattr(pg, name)


# ------------------------------------------------------------------- dtypes


def test_default_dtypes() -> None:
    assert pg.tensor([1.5, 2.0]).dtype == pg.float32
    assert pg.tensor(2.5).dtype == pg.float32
    assert pg.tensor([1, 2]).dtype == pg.int64
    assert pg.tensor(3).dtype == pg.int64
    assert pg.tensor([True, False]).dtype == pg.bool
    assert pg.tensor([1, 2.5]).dtype == pg.float32
    assert pg.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    assert pg.zeros(2).dtype == pg.float32
    assert pg.get_default_dtype() == pg.float32
    assert pg.tensor(np.zeros(2, dtype=np.float64)).dtype == pg.float64
    assert pg.tensor(np.zeros(2, dtype=np.int32)).dtype == pg.int32


@pytest.mark.parametrize("name", DTYPES)
def test_every_dtype_round_trips(name: str) -> None:
    dtype = _pg_dtype(name)
    values = [0, 1, 1] if name == "bool" else [0, 1, 2]
    x = pg.tensor(values, dtype=dtype)
    expected = torch.tensor(values, dtype=getattr(torch, name))
    assert x.dtype == dtype
    assert dtype_name(x.dtype) == dtype_name(expected.dtype)
    assert x.numpy().dtype == expected.numpy().dtype
    assert x.tolist() == expected.tolist()
    assert x.is_floating_point() == expected.is_floating_point()
    assert x.element_size() == expected.element_size()
    assert repr(dtype) == f"plaingrad.{name}"


def test_dtype_aliases() -> None:
    assert pg.float is pg.float32
    assert pg.double is pg.float64
    assert pg.half is pg.float16
    assert pg.long is pg.int64
    assert pg.int is pg.int32


# ---------------------------------------------------------------- promotion


def _operand(lib, kind: str, name: str):
    value = True if name == "bool" else 1
    dtype = getattr(lib, name)
    if kind == "dim":
        return lib.tensor([value, value], dtype=dtype)
    return lib.tensor(value, dtype=dtype)


@pytest.mark.parametrize(
    ("kind_a", "kind_b"), [("dim", "dim"), ("dim", "0d"), ("0d", "dim"), ("0d", "0d")]
)
def test_promotion_of_tensor_pairs_matches_torch(kind_a: str, kind_b: str) -> None:
    for name_a, name_b in itertools.product(DTYPES, DTYPES):
        pa, pb = _operand(pg, kind_a, name_a), _operand(pg, kind_b, name_b)
        ta, tb = _operand(torch, kind_a, name_a), _operand(torch, kind_b, name_b)
        case = f"{kind_a} {name_a} with {kind_b} {name_b}"
        expected = torch.result_type(ta, tb)
        assert dtype_name((pa * pb).dtype) == dtype_name(expected), case
        assert dtype_name((pa + pb).dtype) == dtype_name(expected), case
        assert dtype_name((pa / pb).dtype) == dtype_name((ta / tb).dtype), case
        assert (pa * pb).tolist() == (ta * tb).tolist(), case


@pytest.mark.parametrize("scalar", [True, 2, -1, 2.5])
@pytest.mark.parametrize("kind", ["dim", "0d"])
def test_promotion_with_python_scalars_matches_torch(scalar, kind: str) -> None:
    for name in DTYPES:
        p, t = _operand(pg, kind, name), _operand(torch, kind, name)
        case = f"{kind} {name} with {scalar!r}"
        expected = torch.result_type(t, scalar)
        assert dtype_name((p * scalar).dtype) == dtype_name(expected), case
        assert dtype_name((scalar * p).dtype) == dtype_name(expected), case
        assert dtype_name((p + scalar).dtype) == dtype_name(expected), case
        assert dtype_name((p / scalar).dtype) == dtype_name((t / scalar).dtype), case
        assert dtype_name((scalar / p).dtype) == dtype_name((scalar / t).dtype), case
        if name != "uint8":  # unsigned wrap-around is not worth matching here
            assert (p * scalar).tolist() == (t * scalar).tolist(), case


def test_promotion_facts() -> None:
    f32 = pg.ones(2)
    # a 0-d float64 tensor does not widen a dimensioned float32 one
    assert (f32 * pg.tensor(2.0, dtype=pg.float64)).dtype == pg.float32
    assert (f32 * pg.ones(2, dtype=pg.float64)).dtype == pg.float64
    assert (pg.tensor([1, 2]) * 2.5).dtype == pg.float32
    assert (pg.tensor([1, 2]) * 2.5).tolist() == [2.5, 5.0]
    assert (pg.tensor([1, 2]) / pg.tensor([2, 4])).dtype == pg.float32
    assert (pg.tensor([1, 2]) / pg.tensor([2, 4])).tolist() == [0.5, 0.5]
    assert (pg.tensor([1, 2]) // 2).tolist() == [0, 1]
    assert (pg.tensor([7, -7]) // 2).tolist() == [3, -4]
    assert (pg.tensor([1, 2], dtype=pg.int32) * 2).dtype == pg.int32
    assert (pg.ones(2, dtype=pg.float16) * 2.5).dtype == pg.float16
    # an int 0-d tensor next to a float tensor: the float category wins
    assert (pg.tensor(3) * pg.ones(2, dtype=pg.float16)).dtype == pg.float16
    assert (pg.tensor(3.0, dtype=pg.float64) * pg.tensor([1, 2])).dtype == pg.float64


def test_in_place_op_that_would_widen_raises() -> None:
    x = pg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x += 1.5
    y = pg.ones(2)
    y += pg.ones(2, dtype=pg.float64)  # narrowing into float32 is allowed
    assert y.dtype == pg.float32 and y.tolist() == [2.0, 2.0]


# ------------------------------------------------------------ attributes


def test_shape_and_size() -> None:
    x = pg.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4)
    assert x.size() == (2, 3, 4)
    assert x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3
    assert x.numel() == 24
    assert len(x) == 2
    assert repr(x.shape) == "plaingrad.Size([2, 3, 4])"
    assert x.shape.numel() == 24
    assert pg.tensor(1.0).dim() == 0 and pg.tensor(1.0).shape == ()
    with pytest.raises(IndexError, match="size.*range"):
        x.size(3)


def test_item_and_tolist() -> None:
    assert pg.tensor(2.5).item() == 2.5
    assert isinstance(pg.tensor([3]).item(), int)
    assert isinstance(pg.tensor([True]).item(), bool)
    assert pg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert pg.tensor(1.5).tolist() == 1.5
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be"):
        pg.tensor([1.0, 2.0]).item()
    assert float(pg.tensor([1.5])) == 1.5 and int(pg.tensor(3)) == 3


def test_numpy_shares_memory_and_refuses_requires_grad() -> None:
    x = pg.zeros(3)
    array = x.numpy()
    array[0] = 5.0
    assert x[0].item() == 5.0
    assert isinstance(pg.tensor(2.0).numpy(), np.ndarray)
    assert isinstance((pg.ones(2) * 2).sum().numpy(), np.ndarray)
    w = pg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that"):
        w.numpy()
    assert w.detach().numpy().tolist() == [0.0, 0.0, 0.0]


def test_detach_shares_memory_outside_the_graph() -> None:
    x = pg.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 7.0
    assert y[0].item() == 7.0


def test_clone_copies_and_passes_the_gradient() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    (c * pg.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]
    plain = pg.tensor([1.0, 2.0])
    copy_of = plain.clone()
    copy_of[0] = 9.0
    assert plain.tolist() == [1.0, 2.0]


def test_requires_grad_() -> None:
    x = pg.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad


def test_transpose_property() -> None:
    x = pg.arange(6.0).reshape(2, 3)
    assert x.T.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert pg.arange(24.0).reshape(2, 3, 4).T.shape == (4, 3, 2)
    assert pg.arange(3.0).T.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("long", "int64"),
        ("int", "int32"),
        ("bool", "bool"),
    ],
)
def test_cast_methods(method: str, name: str) -> None:
    values = [0.0, 1.5, -2.0]
    got = getattr(pg.tensor(values), method)()
    expected = getattr(torch.tensor(values), method)()
    assert dtype_name(got.dtype) == name == dtype_name(expected.dtype)
    assert got.tolist() == expected.tolist()


def test_to_and_type_as() -> None:
    x = pg.tensor([1.5, 2.5], requires_grad=True)
    y = x.to(pg.float64)
    assert y.dtype == pg.float64 and y.grad_fn.name() == "ToCopyBackward0"
    assert x.to(dtype=pg.float16).dtype == pg.float16
    assert x.to(pg.zeros(1, dtype=pg.int32)).dtype == pg.int32
    assert x.to("cpu") is x
    assert x.to(pg.float32) is x
    assert x.type_as(pg.zeros(1, dtype=pg.float64)).dtype == pg.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == pg.float32 and x.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    "cast",
    [
        lambda t, lib: t.long(),
        lambda t, lib: t.int(),
        lambda t, lib: t.bool(),
        lambda t, lib: t.to(lib.int32),
        lambda t, lib: t.type(lib.int64),
        lambda t, lib: t.to(lib.zeros(1, dtype=lib.uint8)),
    ],
)
def test_an_integer_or_bool_copy_carries_no_gradient_as_torch(cast) -> None:
    for lib in (torch, pg):
        x = lib.tensor([1.7, -0.2], requires_grad=True)
        y = cast(x, lib)
        assert not y.requires_grad and y.grad_fn is None, lib
        with pytest.raises(RuntimeError, match="does not require grad"):
            (y.float() * 2).sum().backward()
        assert x.grad is None


def test_contiguous() -> None:
    x = pg.arange(6.0).reshape(2, 3)
    assert x.is_contiguous()
    assert x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and c.tolist() == t.tolist()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(6)
    assert torch.arange(6.0).reshape(2, 3).t().is_contiguous() is False


# ----------------------------------------------------------------- creation


CREATION = {
    "tensor_floats": lambda m: m.tensor([[1.0, 2.0]]),
    "tensor_dtype": lambda m: m.tensor([1, 2], dtype=m.float64),
    "tensor_scalar": lambda m: m.tensor(True),
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((2, 3), dtype=m.int32),
    "ones": lambda m: m.ones([4]),
    "ones_dtype": lambda m: m.ones(2, dtype=m.bool),
    "full_float": lambda m: m.full((2, 2), 1.5),
    "full_int": lambda m: m.full((3,), 7),
    "full_bool": lambda m: m.full((1,), True),
    "full_dtype": lambda m: m.full((2,), 3, dtype=m.float64),
    "zeros_like": lambda m: m.zeros_like(m.tensor([1, 2])),
    "ones_like": lambda m: m.ones_like(m.zeros(2, 2), dtype=m.float64),
    "full_like": lambda m: m.full_like(m.zeros(3), 2.5),
    "arange_int": lambda m: m.arange(5),
    "arange_start_end": lambda m: m.arange(2, 7),
    "arange_step": lambda m: m.arange(1, 10, 3),
    "arange_float": lambda m: m.arange(0, 1, 0.25),
    "arange_float_end": lambda m: m.arange(2.5),
    "arange_dtype": lambda m: m.arange(4, dtype=m.float64),
    "arange_negative_step": lambda m: m.arange(5, 0, -2),
    "linspace": lambda m: m.linspace(0, 1, 5),
    "linspace_one": lambda m: m.linspace(2, 3, 1),
    "linspace_dtype": lambda m: m.linspace(-1, 1, 4, dtype=m.float64),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 3),
    "eye_dtype": lambda m: m.eye(2, dtype=m.int64),
}


@pytest.mark.parametrize("name", sorted(CREATION))
def test_creation_matches_torch(name: str) -> None:
    got = CREATION[name](pg)
    expected = CREATION[name](torch)
    assert isinstance(got, pg.Tensor)
    assert tuple(got.shape) == tuple(expected.shape)
    assert dtype_name(got.dtype) == dtype_name(expected.dtype)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    assert not got.requires_grad


def test_empty_shapes_and_dtypes() -> None:
    assert pg.empty(2, 3).shape == (2, 3) and pg.empty(2, 3).dtype == pg.float32
    assert pg.empty((4,), dtype=pg.int64).dtype == pg.int64
    assert pg.empty_like(pg.zeros(2, dtype=pg.float16)).dtype == pg.float16
    assert pg.zeros(0).shape == (0,)


def test_creation_with_requires_grad() -> None:
    for x in (
        pg.zeros(2, requires_grad=True),
        pg.ones(2, requires_grad=True),
        pg.full((2,), 1.0, requires_grad=True),
        pg.randn(2, requires_grad=True),
        pg.tensor([1.0], requires_grad=True),
        pg.arange(3.0, requires_grad=True),
    ):
        assert x.requires_grad and x.is_leaf


def test_creation_errors() -> None:
    with pytest.raises(RuntimeError, match="negative dimension"):
        pg.zeros(2, -1)
    with pytest.raises(TypeError, match="zeros.*size"):
        pg.zeros(2.5)
    with pytest.raises(RuntimeError, match="arange"):
        pg.arange(0, 5, -1)
    with pytest.raises(RuntimeError, match="arange.*step"):
        pg.arange(0, 5, 0)


def test_tensor_copies_while_as_tensor_and_from_numpy_share() -> None:
    array = np.array([1.0, 2.0])
    copied = pg.tensor(array)
    shared = pg.as_tensor(array)
    from_np = pg.from_numpy(array)
    array[0] = 9.0
    assert copied.tolist() == [1.0, 2.0]
    assert shared.tolist() == [9.0, 2.0]
    assert from_np.tolist() == [9.0, 2.0]
    assert from_np.dtype == pg.float64
    from_np[1] = -1.0
    assert array[1] == -1.0
    assert pg.as_tensor([1, 2]).dtype == pg.int64
    assert pg.as_tensor(array, dtype=pg.float32).dtype == pg.float32
    with pytest.raises(TypeError, match="from_numpy"):
        pg.from_numpy([1.0, 2.0])


def test_tensor_from_list_of_tensors() -> None:
    x = pg.tensor([pg.tensor(1.0), pg.tensor(2.0)])
    assert x.tolist() == [1.0, 2.0] and x.dtype == pg.float32


# ------------------------------------------------------------------ random


RANDOM = {
    "rand": (lambda g: pg.rand(2, 3, generator=g), (2, 3), pg.float32),
    "randn": (lambda g: pg.randn((4,), generator=g), (4,), pg.float32),
    "randn_dtype": (
        lambda g: pg.randn(2, generator=g, dtype=pg.float64),
        (2,),
        pg.float64,
    ),
    "randint": (lambda g: pg.randint(0, 10, (3, 2), generator=g), (3, 2), pg.int64),
    "randint_high": (lambda g: pg.randint(5, (6,), generator=g), (6,), pg.int64),
    "randperm": (lambda g: pg.randperm(7, generator=g), (7,), pg.int64),
    "rand_like": (
        lambda g: pg.rand_like(pg.zeros(2, dtype=pg.float64), generator=g),
        (2,),
        pg.float64,
    ),
    "randn_like": (lambda g: pg.randn_like(pg.zeros(3), generator=g), (3,), pg.float32),
    "randint_like": (
        lambda g: pg.randint_like(pg.zeros(3), 4, generator=g),
        (3,),
        pg.float32,
    ),
    "normal": (
        lambda g: pg.normal(0.0, 1.0, (2, 2), generator=g),
        (2, 2),
        pg.float32,
    ),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_functions_accept_generators(name: str) -> None:
    make, shape, dtype = RANDOM[name]
    a = make(pg.Generator().manual_seed(123))
    b = make(pg.Generator().manual_seed(123))
    c = make(pg.Generator().manual_seed(321))
    assert tuple(a.shape) == shape
    assert a.dtype == dtype
    assert a.tolist() == b.tolist()
    if a.numel() > 2:
        assert a.tolist() != c.tolist()

    # the global stream, reseeded by manual_seed
    pg.manual_seed(7)
    first = make(None)
    pg.manual_seed(7)
    assert make(None).tolist() == first.tolist()


def test_random_values_are_in_range() -> None:
    g = pg.Generator().manual_seed(0)
    u = pg.rand(1000, generator=g)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0
    n = pg.randn(4000, generator=g, dtype=pg.float64)
    assert abs(n.mean().item()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    i = pg.randint(-3, 4, (1000,), generator=g)
    assert set(i.tolist()) == set(range(-3, 4))
    assert sorted(pg.randperm(10, generator=g).tolist()) == list(range(10))


def test_generator_stream_is_independent_of_the_global_one() -> None:
    pg.manual_seed(0)
    expected = pg.rand(3).tolist()
    pg.manual_seed(0)
    pg.rand(5, generator=pg.Generator().manual_seed(1))
    assert pg.rand(3).tolist() == expected


def test_random_rejects_what_is_not_a_generator() -> None:
    with pytest.raises(TypeError, match="generator"):
        pg.rand(2, generator=np.random.default_rng(0))


# ------------------------------------------------------------------- printing


def test_repr_with_grad_fn_and_requires_grad() -> None:
    x = pg.tensor([[1.0]])
    w = pg.tensor([[0.1], [0.2]], requires_grad=True)
    b = pg.zeros(2, requires_grad=True)
    out = F.linear(x, w, b)
    assert repr(out) == "tensor([[0.1000, 0.2000]], grad_fn=<AddmmBackward0>)"
    assert repr(w) == "tensor([[0.1000],\n        [0.2000]], requires_grad=True)"
    assert repr(pg.tensor([1.0, 2.0]) * w[0]) == (
        "tensor([0.1000, 0.2000], grad_fn=<MulBackward0>)"
    )
    assert repr(pg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(pg.tensor([1.5], dtype=pg.float64)) == (
        "tensor([1.5000], dtype=torch.float64)".replace("torch", "plaingrad")
    )

    t_out = torch.nn.functional.linear(
        torch.tensor([[1.0]]),
        torch.tensor([[0.1], [0.2]], requires_grad=True),
        torch.zeros(2, requires_grad=True),
    )
    assert repr(out) == repr(t_out)


def test_grad_fn_names_match_torch() -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    ops = {
        "add": lambda t: t + t,
        "sub": lambda t: t - 1,
        "mul": lambda t: t * t,
        "div": lambda t: t / 2,
        "neg": lambda t: -t,
        "pow": lambda t: t**2,
        "exp": lambda t: t.exp(),
        "tanh": lambda t: t.tanh(),
        "sigmoid": lambda t: t.sigmoid(),
        "relu": lambda t: t.relu(),
        "sum": lambda t: t.sum(),
        "mean": lambda t: t.mean(),
        "mm": lambda t: t @ t,
        "t": lambda t: t.t(),
        "permute": lambda t: t.permute(1, 0),
        "unsqueeze": lambda t: t.unsqueeze(0),
        "expand": lambda t: t[:1].expand(3, 2),
        "cat": lambda t: (t, t)[0].clone(),
        "softmax": lambda t: t.softmax(1),
        "log_softmax": lambda t: t.log_softmax(1),
        "clone": lambda t: t.clone(),
        "view": lambda t: t.view(4),
        "reshape": lambda t: t.reshape(4),
        "reshape a transpose": lambda t: t.t().reshape(4),
        "flatten": lambda t: t.flatten(),
        "squeeze": lambda t: t.unsqueeze(0).squeeze(),
        "squeeze dim": lambda t: t.unsqueeze(0).squeeze(0),
        "squeeze dims": lambda t: t.unsqueeze(0).squeeze((0, 1)),
        ".T": lambda t: t.T,
    }
    for name, op in ops.items():
        got = op(pg.tensor(x, requires_grad=True)).grad_fn.name()
        expected = type(op(torch.tensor(x, requires_grad=True)).grad_fn).__name__
        assert got == expected, name


# -------------------------------------------------------------------- copying


def test_deepcopy_of_a_leaf() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    y = copy.deepcopy(x)
    assert y is not x
    assert y.tolist() == [1.0, 2.0]
    assert y.requires_grad and y.is_leaf
    assert y.grad.tolist() == [3.0, 3.0]
    assert not np.shares_memory(y.detach().numpy(), x.detach().numpy())
    with pg.no_grad():
        y.mul_(2)
    assert x.tolist() == [1.0, 2.0]
    both = copy.deepcopy([x, x])
    assert both[0] is both[1]


def test_deepcopy_of_a_non_leaf_raises() -> None:
    y = pg.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(y)


# ------------------------------------------------------------- threads


def test_set_num_threads_sizes_the_blas_pool() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pytest.importorskip("scipy.linalg")  # a second OpenBLAS, SciPy's own
    before = pg.get_num_threads()
    try:
        for n in (1, 2):
            pg.set_num_threads(n)
            assert pg.get_num_threads() == n
            # What the BLAS library itself reports, read by another tool.
            pools = threadpoolctl.threadpool_info()
            blas = [p for p in pools if p["user_api"] == "blas"]
            assert blas and all(p["num_threads"] == n for p in blas), blas
    finally:
        pg.set_num_threads(before)
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        pg.set_num_threads(0)


def test_creation_takes_size_as_a_keyword_and_refuses_unknown_ones() -> None:
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        fn = getattr(pg, name)
        assert fn(size=(2, 3)).shape == (2, 3), name
        assert fn(()).shape == (), name
        with pytest.raises(TypeError, match=f"{name}\\(\\) got an unexpected keyword"):
            fn(2, dtyp=pg.float64)
        with pytest.raises(TypeError, match="missing the size"):
            fn()
    with pytest.raises(TypeError, match="unexpected keyword argument 'requires_gard'"):
        pg.ones(2, requires_gard=True)
    assert pg.arange(end=3).tolist() == torch.arange(end=3).tolist()
