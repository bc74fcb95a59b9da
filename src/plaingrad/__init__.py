"""plaingrad: backpropagation you can watch, on NumPy, with PyTorch's API.

``import plaingrad as torch`` runs PyTorch programs that use the tensor, autograd,
nn, optim and data APIs that plaingrad implements. The package is layered; each
layer depends only on those above it:

- ``backend``: the array namespace (NumPy);
- ``tensor``: the Tensor; ``autograd``: graph nodes, the engine, grad modes;
- ``ops``: every op's forward and backward rule;
- ``nn``, ``optim``, ``utils.data``: layers, optimizers, data loading;
- ``datasets``, ``io``, ``cli``: built-in data, checkpoints, the command line.
"""

from __future__ import annotations

from . import _dtype, autograd, cuda, linalg, nn, optim, utils
from . import ops as _ops
from ._dtype import (
    bool_ as bool,  # noqa: A001  (PyTorch's name)
)
from ._dtype import (
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .device import NoGPUBackendError, device
from .ops import (
    abs,
    add,
    addmm,
    all,
    allclose,
    amax,
    amin,
    any,
    argmax,
    argmin,
    baddbmm,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    bmm,
    cat,
    clamp,
    clone,
    count_nonzero,
    cumprod,
    cumsum,
    det,
    div,
    dot,
    eq,
    equal,
    exp,
    expand,
    flatten,
    floor_divide,
    ge,
    gt,
    inner,
    isclose,
    isfinite,
    isinf,
    isnan,
    kthvalue,
    le,
    log,
    log_softmax,
    logcumsumexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    matmul,
    max,
    mean,
    median,
    min,
    mm,
    mode,
    mul,
    mv,
    ne,
    neg,
    norm,
    outer,
    permute,
    pow,
    prod,
    relu,
    remainder,
    reshape,
    sigmoid,
    softmax,
    sort,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    t,
    tanh,
    topk,
    transpose,
    unflatten,
    unsqueeze,
    var,
    where,
)
from .ops.activation import celu, selu
from .ops.binary import (
    arctan2,
    atan2,
    fmod,
    hypot,
    lerp,
    masked_fill,
    maximum,
    minimum,
)
from .ops.einsum import einsum, masked_select, nonzero
from .ops.indexing import (
    gather,
    index_add,
    index_put,
    index_select,
    scatter,
    scatter_add,
    take_along_dim,
)
from .ops.math import (
    acos,
    arccos,
    arcsin,
    arctan,
    asin,
    atan,
    ceil,
    cos,
    cosh,
    erf,
    erfinv,
    exp2,
    expm1,
    fix,
    floor,
    frac,
    log1p,
    log2,
    log10,
    reciprocal,
    round,  # noqa: A004  (PyTorch's name)
    rsqrt,
    sign,
    sin,
    sinh,
    tan,
    trunc,
)
from .ops.reshaping import (
    chunk,
    diagonal,
    flip,
    movedim,
    narrow,
    repeat,
    roll,
    split,
    swapaxes,
    tile,
    tril,
    triu,
    unbind,
)
from .ops.sampling import bernoulli, multinomial, poisson
from .ops.shape import select
from .random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .tensor import Size, Tensor
from .threads import get_num_threads, set_num_threads
from .warnings import PlaingradWarning

clip = clamp
moveaxis = movedim
swapdims = swapaxes
inverse = linalg.inv
long = int64
int = int32  # noqa: A001
float = float32  # noqa: A001
double = float64
half = float16
__version__ = "0.1.0"


def is_tensor(obj: object) -> object:
    """True when ``obj`` is a plaingrad Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> object:
    return input.numel()


def detach(input: Tensor) -> Tensor:
    return input.detach()


def __getattr__(name: str) -> object:
    # What a training step never needs loads on first use: the tools
    # (``explain``, ``lens``), ONNX export and the checkpoint files (``io``,
    # with ``save`` and ``load``; zipfile and the pickle reader come with it).
    # Each would add more than the 5 ms such a part may add to ``import
    # plaingrad``. ``distributed`` (MPI) is not needed by a single process.
    import importlib

    if name in ("explain", "lens", "onnx", "io", "distributed", "compiler", "_dynamo"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("load", "save", "compile"):
        home = "._compile" if name == "compile" else ".io"
        value = getattr(importlib.import_module(home, __name__), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'plaingrad' has no attribute {name!r}")
