"""nn modules of issue 3 without parameters of their own, or holding others:
shapes, containers, activations outside specs_elementwise.py, dropout,
upsampling and pixel shuffling.

Conventions are specs_modules.py's. Containers are checked through a small
model that uses them (``_container_model``): its ``state_dict`` keys are the
containers' naming scheme ("layers.2.weight", "params.b"), which must be torch's
for the harness to copy the state at all, and its gradients reach every
parameter the container holds. Three rows also edit their container
(``insert``, ``pop``, ``del``, ``+``/``+=``), which renumbers the children.
Dropout is random, so its rows are CustomSpecs that check the mask's structure
and scale, with eval mode, p=0 and p=1 compared with torch's output.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import (
    SMOOTH,
    CustomSpec,
    ModuleSpec,
    away_from,
    floats,
    stage,
)
from .specs_modules import CONTRACTION, images, leading, shaped


def _check_dropout(torch: Any, dtype: str, x: np.ndarray, two_d: bool = False):
    """Kept values scaled by 1/(1-p), whole channels for Dropout2d (3-D input is
    taken as (N, C, L), as torch does), gradient mask * scale, eval identity."""
    p = 0.3
    make = pg.nn.Dropout2d if two_d else pg.nn.Dropout
    t = pg.tensor(x.astype(dtype), requires_grad=True)
    out = make(p)(t)
    assert tuple(out.shape) == x.shape and out.dtype == t.dtype
    got = out.detach().numpy()
    kept = got != 0
    np.testing.assert_allclose(got[kept], x[kept] / (1 - p), 1e-6)
    if two_d:  # the mask is constant over everything after (N, C)
        flat = kept.reshape(*x.shape[:2], -1)
        assert np.all(flat == flat[..., :1]), "Dropout2d mask varies in a channel"
        units = flat[..., 0]
    else:
        units = kept
    # the fraction dropped is within 4 standard deviations of p
    spread = 4 * np.sqrt(p * (1 - p) / units.size)
    assert abs((1 - units.mean()) - p) < spread, f"dropped {1 - units.mean():.3f}"
    with stage("backward"):
        out.backward(pg.ones_like(out))
        np.testing.assert_allclose(t.grad.numpy(), kept / (1 - p), 1e-6)
    # eval mode and p=0 are the identity; p=1 gives zeros (as torch)
    for module, train, expected in [
        (make(p), False, x),
        (make(0.0), True, x),
        (make(1.0), True, np.zeros_like(x)),
    ]:
        reference = getattr(torch.nn, make.__name__)(module.p).train(train)
        torch_out = reference(torch.tensor(x.astype(dtype))).numpy()
        np.testing.assert_array_equal(torch_out, expected.astype(dtype))
        out = module.train(train)(pg.tensor(x.astype(dtype)))
        np.testing.assert_array_equal(out.numpy(), expected.astype(dtype))


def _container_model(lib: Any, kind: str) -> Any:
    """A small model holding a container of ``kind``, in either library."""
    nn = lib.nn

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if kind == "ModuleList":
                self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Tanh()])
                self.layers.append(nn.Linear(4, 4))
                self.layers.extend([nn.Sigmoid(), nn.Linear(4, 2)])
            elif kind == "ModuleDict":
                self.layers = nn.ModuleDict({"inner": nn.Linear(3, 4)})
                self.layers.update({"act": nn.Tanh(), "out": nn.Linear(4, 2)})
            elif kind == "ParameterList":
                self.params = nn.ParameterList([nn.Parameter(lib.randn(3, 4))])
                self.params.append(nn.Parameter(lib.randn(4)))
            elif kind == "ParameterDict":
                self.params = nn.ParameterDict({"w": nn.Parameter(lib.randn(3, 4))})
                self.params["b"] = nn.Parameter(lib.randn(4))
            elif kind.startswith("ModuleList("):
                layers = nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 2)])
                layers.insert(1, nn.Tanh())  # Linear, Tanh, Linear
                layers += nn.ModuleList([nn.Sigmoid(), nn.Linear(2, 2)])
                del layers[3]  # the Sigmoid
                layers.insert(1, layers.pop(1))  # the Tanh, out and back
                self.layers = layers + nn.ModuleList([nn.Tanh()])
            elif kind.startswith("ModuleDict("):
                self.layers = nn.ModuleDict(
                    {"a": nn.Linear(3, 4), "act": nn.Tanh(), "drop": nn.Identity()}
                )
                self.layers["b"] = nn.Linear(4, 2)
                del self.layers["drop"]
                self.layers["act"] = self.layers.pop("act")  # now last: a, b, act
                self.spare = nn.ModuleDict({"x": nn.Linear(2, 2)})
                self.spare.clear()
            else:  # Sequential(...)
                layers = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
                layers.insert(1, nn.Tanh())
                layers.extend([nn.Sigmoid()])
                layers += nn.Sequential(nn.Linear(2, 2))
                layers.pop(3)  # the Sigmoid
                self.layers = layers

        def forward(self, x: Any) -> Any:
            if kind == "ModuleList":
                for layer in self.layers[:-1]:  # slicing keeps the modules
                    x = layer(x)
                return self.layers[-1](x)
            if kind.startswith("Module"):
                layers = self.layers.values() if "Dict" in kind else self.layers
                for layer in layers:  # insertion order
                    x = layer(x)
                return x
            if kind == "ParameterList":
                return lib.tanh(x @ self.params[0] + self.params[-1])
            if kind == "ParameterDict":
                return lib.tanh(x @ self.params["w"] + self.params["b"])
            return self.layers(x)

    return Model()


def _container(kind: str, **options: Any) -> ModuleSpec:
    return ModuleSpec(
        f"nn.{kind}",
        lambda lib: _container_model(lib, kind),
        leading(3, edges=CONTRACTION),
        examples_scale=0.67,
        note="through a small model that holds it; state names follow torch's",
        **options,
    )


def _sequential_dict(lib: Any) -> Any:
    layers = [("inp", lib.nn.Linear(3, 4)), ("act", lib.nn.ReLU())]
    return lib.nn.Sequential(OrderedDict(layers + [("out", lib.nn.Linear(4, 2))]))


SPECS = [
    # ------------------------------------------------------------- shapes
    ModuleSpec("nn.Identity", lambda lib: lib.nn.Identity(3, k=1), floats(empty=True)),
    ModuleSpec("nn.Flatten", lambda lib: lib.nn.Flatten(), floats(min_dims=2)),
    ModuleSpec(
        "nn.Flatten(0, -2)", lambda lib: lib.nn.Flatten(0, -2), floats(min_dims=2)
    ),
    ModuleSpec(
        "nn.Unflatten", lambda lib: lib.nn.Unflatten(1, (2, 3)), shaped((1, 2), 6, 2)
    ),
    ModuleSpec(
        "nn.Unflatten(-1, -1)",
        lambda lib: lib.nn.Unflatten(-1, (2, -1)),
        shaped((1, 3), (1, 2), 4),
    ),
    ModuleSpec(
        "nn.Sequential",
        lambda lib: lib.nn.Sequential(
            lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)
        ),
        leading(3, edges=CONTRACTION),
    ),
    ModuleSpec(
        "nn.Sequential(OrderedDict)",
        _sequential_dict,
        leading(3, edges=CONTRACTION),
        examples_scale=0.67,
    ),
    # --------------------------------------------------------- containers
    *(_container(k) for k in ("ModuleList", "ModuleDict", "ParameterList")),
    _container("ParameterDict"),
    _container("ModuleList(insert, pop, del, +)"),
    _container("ModuleDict(pop, del, clear)"),
    _container("Sequential(insert, extend, pop, +=)"),
    # ------------------------------------------ activations not in elementwise
    ModuleSpec("nn.ReLU", lambda lib: lib.nn.ReLU(), floats(), fd_ok=away_from(0.0)),
    ModuleSpec("nn.Tanh", lambda lib: lib.nn.Tanh(), floats(empty=True)),
    ModuleSpec("nn.GELU(none)", lambda lib: lib.nn.GELU(), floats()),
    ModuleSpec("nn.Softmax", lambda lib: lib.nn.Softmax(dim=1), floats(min_dims=2)),
    ModuleSpec(
        "nn.LogSoftmax", lambda lib: lib.nn.LogSoftmax(dim=-1), floats(min_dims=1)
    ),
    # --------------------------------------------------------------- dropout
    CustomSpec(
        "nn.Dropout",
        _check_dropout,
        floats((40, 50), low=1.0, high=2.0, edges=SMOOTH),
        examples_scale=0.34,
        note="kept values and gradient scaled by 1/(1-p); eval, p=0, p=1 as torch",
    ),
    CustomSpec(
        "nn.Dropout2d",
        lambda torch, dtype, x: _check_dropout(torch, dtype, x, two_d=True),
        st.one_of(
            floats((20, 20, 2, 3), low=1.0, high=2.0, edges=SMOOTH),
            floats((20, 20, 3), low=1.0, high=2.0, edges=SMOOTH),
        ),
        examples_scale=0.67,
        note="whole channels dropped (3-D input as (N, C, L)); scale 1/(1-p)",
    ),
    # ------------------------------------------------- upsampling and shuffle
    ModuleSpec(
        "nn.Upsample",
        lambda lib: lib.nn.Upsample(scale_factor=2),
        images(2, (1, 3), (1, 3)),
    ),
    ModuleSpec(
        "nn.Upsample(bilinear)",
        lambda lib: lib.nn.Upsample(size=(3, 5), mode="bilinear"),
        images(2, (1, 4), (1, 4)),
    ),
    ModuleSpec(
        "nn.Upsample(linear, align_corners)",
        lambda lib: lib.nn.Upsample(
            scale_factor=1.5, mode="linear", align_corners=True
        ),
        shaped((1, 2), 2, (1, 4)),
    ),
    ModuleSpec(
        "nn.PixelShuffle",
        lambda lib: lib.nn.PixelShuffle(2),
        images(8, (1, 2), (1, 3)),
    ),
    ModuleSpec(
        "nn.PixelUnshuffle",
        lambda lib: lib.nn.PixelUnshuffle(2),
        images(2, (1, 2), (1, 2)).map(lambda x: np.tile(x, (1, 1, 2, 2))),
    ),
]
