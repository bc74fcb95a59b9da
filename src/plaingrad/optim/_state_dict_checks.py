"""Checks that a state dict handed to ``load_state_dict`` fits the optimizer.

PyTorch loads whatever it is given: an Adam state dict loaded into SGD merges
Adam's options into SGD's groups and the next step quietly runs a different
rule. Here a saved group must carry the options this optimizer needs (those
PyTorch fills in for state dicts of older versions are filled the same way),
must not carry options that only other optimizers use, and the saved
per-parameter state may hold only the buffers this optimizer creates.
"""

from __future__ import annotations

from typing import Any

# Options PyTorch's ``__setstate__`` fills in, with the same values, when a
# state dict saved by an older version lacks them.
_FILLED_ON_LOAD = {
    "foreach": None,
    "maximize": False,
    "capturable": False,
    "differentiable": False,
    "fused": None,
}

# Per optimizer: the per-parameter state keys it creates, and the further
# options PyTorch fills in on load. ``None`` in the second stands for "this
# optimizer's default" (AdamW's decoupled_weight_decay is True).
_SPECS: dict[str, tuple[frozenset, dict]] = {
    "SGD": (frozenset({"momentum_buffer"}), {"nesterov": False, "fused": False}),
    "Adam": (
        frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
        {"amsgrad": False, "decoupled_weight_decay": None},
    ),
    "AdamW": (
        frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
        {"amsgrad": False, "decoupled_weight_decay": None},
    ),
    "Adamax": (frozenset({"step", "exp_avg", "exp_inf"}), {}),
    "Adadelta": (frozenset({"step", "square_avg", "acc_delta"}), {}),
    "Adagrad": (frozenset({"step", "sum"}), {}),
    "NAdam": (
        frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"}),
        {"decoupled_weight_decay": None},
    ),
    "RAdam": (
        frozenset({"step", "exp_avg", "exp_avg_sq"}),
        {"decoupled_weight_decay": None},
    ),
    "RMSprop": (
        frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"}),
        {"momentum": 0, "centered": False},
    ),
    "LBFGS": (
        frozenset(
            {
                "func_evals",
                "n_iter",
                "d",
                "t",
                "old_dirs",
                "old_stps",
                "ro",
                "H_diag",
                "prev_flat_grad",
                "prev_loss",
                "al",
            }
        ),
        {},
    ),
}

# Every option of PyTorch's optimizers: a saved group carrying one of these
# that this optimizer does not use was saved by another optimizer. Keys not
# listed (a user's "name", a scheduler's "initial_lr") pass through.
_OPTION_NAMES = frozenset(
    {
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
        "maximize",
        "foreach",
        "differentiable",
        "fused",
        "capturable",
        "betas",
        "eps",
        "amsgrad",
        "decoupled_weight_decay",
        "lr_decay",
        "initial_accumulator_value",
        "rho",
        "alpha",
        "centered",
        "momentum_decay",
        "lambd",
        "t0",
        "etas",
        "step_sizes",
        "beta2_decay",
        "max_iter",
        "max_eval",
        "tolerance_grad",
        "tolerance_change",
        "history_size",
        "line_search_fn",
    }
)


def _spec(optimizer: Any) -> tuple[frozenset | None, dict]:
    """The state keys (None: not known) and options filled on load."""
    fills = dict(_FILLED_ON_LOAD)
    state_keys = None
    for cls in reversed(type(optimizer).__mro__):
        spec = _SPECS.get(cls.__name__)
        if spec is not None and cls.__module__.startswith("plaingrad.optim"):
            fills.update(spec[1])
            # A user's subclass may keep state of its own: checked only for
            # plaingrad's own classes.
            state_keys = spec[0] if cls is type(optimizer) else None
    return state_keys, fills


def _names(keys: Any) -> str:
    return ", ".join(f"'{k}'" for k in keys)


def loaded_options(optimizer: Any, index: int, saved: dict, own: dict) -> dict:
    """The options of saved group ``index`` to write into ``own``, with those
    PyTorch fills in for old state dicts; raise ValueError when the group
    belongs to another kind of optimizer."""
    name = type(optimizer).__name__
    _, fills = _spec(optimizer)
    defaults = optimizer.defaults
    missing = [k for k in defaults if k not in saved and k not in fills]
    foreign = [
        k for k in saved if k in _OPTION_NAMES and k not in defaults and k not in own
    ]
    if missing or foreign:
        problems = []
        if missing:
            problems.append(f"lacks {_names(missing)}, which {name} requires")
        if foreign:
            problems.append(f"has {_names(foreign)}, which {name} does not use")
        expected = _names(k for k in defaults)
        given = _names(k for k in saved if k not in ("params", "param_names"))
        raise ValueError(
            f"{name}.load_state_dict: parameter group {index} of the state dict "
            f"{' and '.join(problems)}; was it saved by another optimizer? "
            f"(expected options {expected}; given {given}). Nothing was loaded."
        )
    options = {k: v for k, v in saved.items() if k != "params"}
    for key, value in fills.items():
        if key in defaults and key not in saved:
            options[key] = defaults[key] if value is None else value
    return options


def check_state_keys(optimizer: Any, index: Any, saved_state: dict) -> None:
    """Raise ValueError when a parameter's saved state holds buffers this
    optimizer never creates."""
    state_keys, _ = _spec(optimizer)
    if state_keys is None:
        return
    unknown = [k for k in saved_state if k not in state_keys]
    if unknown:
        name = type(optimizer).__name__
        raise ValueError(
            f"{name}.load_state_dict: the state of parameter {index} holds "
            f"{_names(unknown)}, which {name} never creates (expected some of "
            f"{_names(sorted(state_keys))}); was it saved by another optimizer? "
            "Nothing was loaded."
        )
