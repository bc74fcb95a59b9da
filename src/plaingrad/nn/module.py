"""``Module``: the base class of layers and models.

Assigning a ``Parameter``, a ``Module`` or (through ``register_buffer``) a buffer
to a module attribute registers it in ``_parameters`` / ``_modules`` /
``_buffers``, which keep their insertion order for ``named_parameters`` and
``state_dict``. The value also stays in the instance ``__dict__`` so that
``self.weight`` in ``forward`` is a plain attribute load, not a ``__getattr__``
call: per-op overhead matters in small models.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..tensor import Tensor
from .parameter import Parameter


class _IncompatibleKeys(tuple):
    """``(missing_keys, unexpected_keys)`` returned by ``load_state_dict``."""

    @property
    def missing_keys(self) -> list:
        return self[0]

    @property
    def unexpected_keys(self) -> list:
        return self[1]

    def __repr__(self) -> str:
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"


# Bumped by every attribute set on a module (other than ``training``), and
# by every parameter, buffer or submodule added or removed: a compiled
# function's replays hold the tensors they read and must record afresh.
structure_version = [0]


class Module:
    """Base class for all layers and models; subclass it and define ``forward``.

    Example:
        >>> import plaingrad as torch
        >>> class Net(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = torch.nn.Linear(2, 1)
        ...     def forward(self, x):
        ...         return self.fc(x)
        >>> [name for name, _ in Net().named_parameters()]
        ['fc.weight', 'fc.bias']
    """

    training: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Compile this module's ``forward`` in place with ``plaingrad.compile``
        (the same arguments); its calls, hooks included, then go through it."""
        from .._compile import CompiledFunction, compile

        forward = self.__dict__.get("forward")
        if isinstance(forward, CompiledFunction):
            del self.forward  # compile afresh, with these arguments
        compiled = compile(self.forward, *args, **kwargs)
        if compiled is not self.forward:  # (disable=True keeps it)
            self.forward = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks:
            from .backward_hooks import call_with_backward_hooks

            out = call_with_backward_hooks(
                self, args, lambda a: self.forward(*a, **kwargs)
            )
        else:
            out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # ------------------------------------------------------- registration

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "training":
            structure_version[0] += 1  # plaingrad.compile's guard reads it
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call "
                "(call super().__init__() first)"
            )
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter "
                    f"'{name}' (plaingrad.nn.Parameter or None expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module "
                    f"'{name}' (plaingrad.nn.Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(plaingrad.Tensor or None expected)"
                )
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        structure_version[0] += 1
        for registry in ("_parameters", "_modules", "_buffers"):
            self.__dict__[registry].pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent parameter)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: cannot assign '{type(param).__name__}' "
                f"object to parameter '{name}' (plaingrad.nn.Parameter or None "
                "required)"
            )
        structure_version[0] += 1
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(
        self, name: str, tensor: Tensor | None, persistent: bool = True
    ) -> None:
        """Add a tensor that is state but not a parameter (e.g. running means)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: cannot assign '{type(tensor).__name__}' object "
                f"to buffer '{name}' (plaingrad.Tensor or None required)"
            )
        structure_version[0] += 1
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module")
        structure_version[0] += 1
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def register_forward_hook(self, hook: Callable) -> _RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward."""
        return _RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable) -> _RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward."""
        return _RemovableHandle(self._forward_pre_hooks, hook)

    def register_full_backward_hook(self, hook: Callable) -> _RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` in backward, once the
        gradient with respect to the module's input is known; a returned
        tuple replaces ``grad_input``. ``grad_input`` holds None for an input
        that needs no gradient."""
        return _RemovableHandle(self._backward_hooks, hook)

    # ------------------------------------------------------------ traversal

    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, with dotted names."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(
        self, registry: str, prefix: str, recurse: bool
    ) -> Iterator[tuple[str, Any]]:
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``layer1.weight``), once each."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target: str) -> Module:
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(
                    f"{type(module).__name__} has no submodule `{part}` "
                    f"(looking up '{target}')"
                )
            module = module._modules[part]
        return module

    # ----------------------------------------------------------------- modes

    def train(self, mode: bool = True) -> Module:
        """Set training mode (affects dropout, batch norm) here and below."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None by default)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad._data.fill(0)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first), then on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert parameters and buffers to a dtype; devices other than the
        CPU are refused."""
        dtype = kwargs.get("dtype")
        from .. import _dtype
        from ..device import check_device

        check_device(kwargs.get("device"), "Module.to")
        for arg in args:
            if isinstance(arg, (_dtype.dtype, type)):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
            else:
                check_device(arg, "Module.to")
        if dtype is not None:
            npd = _dtype.to_np(dtype)
            if npd.kind != "f":
                raise TypeError(
                    f"Module.to only accepts floating point dtypes, but got "
                    f"desired dtype={dtype}"
                )
            self._cast_floats(npd)
        return self

    def _cast_floats(self, npd: np.dtype) -> Module:
        for module in self.modules():
            for registry in (module._parameters, module._buffers):
                for tensor in registry.values():
                    if tensor is not None and tensor._data.dtype.kind == "f":
                        tensor._data = tensor._data.astype(npd)
                        if tensor.grad is not None:
                            tensor.grad._data = tensor.grad._data.astype(npd)
        return self

    def float(self) -> Module:
        return self._cast_floats(np.dtype(np.float32))

    def double(self) -> Module:
        return self._cast_floats(np.dtype(np.float64))

    def half(self) -> Module:
        return self._cast_floats(np.dtype(np.float16))

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        from ..device import check_device

        check_device("cuda", "Module.cuda")
        return self

    # ---------------------------------------------------------- state dicts

    def state_dict(
        self, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (``0.weight``)."""
        out = OrderedDict() if destination is None else destination
        # Every attribute path, as PyTorch: a submodule used under two names
        # gives two sets of keys.
        modules = self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False)
        for module_prefix, module in modules:
            dot = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    out[dot + name] = param if keep_vars else param.detach()
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    out[dot + name] = buf if keep_vars else buf.detach()
        return out

    def load_state_dict(
        self, state_dict: Any, strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's tensors.

        Every key and shape is checked before anything is copied, so a failed
        load leaves the module unchanged.

        Raises:
            RuntimeError: on missing or unexpected keys (when ``strict``) or on
                any shape mismatch, listing every problem found.
            TypeError: when ``state_dict`` is not a mapping.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(
                "load_state_dict: Expected state_dict to be dict-like, got "
                f"{type(state_dict).__name__}"
            )
        if assign:
            raise NotImplementedError(
                "load_state_dict: `assign=True` is not supported yet; values are "
                "copied into the existing tensors"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict:
            if unexpected:
                problems.append(
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + "."
                )
            if missing:
                problems.append(
                    "Missing key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in missing)
                    + "."
                )
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value._data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target._data.shape:
                problems.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{tuple(array.shape)} from checkpoint, the shape in current "
                    f"model is {tuple(target._data.shape)}."
                )
                continue
            try:
                # Cast now, so that a value that cannot be converted fails
                # before anything has been copied.
                array = array.astype(target._data.dtype, copy=False)
            except (TypeError, ValueError) as error:
                problems.append(
                    f'While copying the parameter named "{key}", whose dimensions '
                    f"in the model are {tuple(target._data.shape)}, an exception "
                    f"occurred: {error}."
                )
                continue
            updates.append((target, array))
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(problems)
            )
        for target, array in updates:
            target._data[...] = array
            target._version += 1
        return _IncompatibleKeys((missing, unexpected))

    # -------------------------------------------------------------- printing

    def extra_repr(self) -> str:
        """One-line description of this module's own settings."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): {_addindent(repr(child), 2)}"
            for name, child in self._modules.items()
        ]
        head = type(self).__name__
        if len(extra_lines) == 1 and not child_lines:
            return f"{head}({extra_lines[0]})"
        if not extra_lines and not child_lines:
            return f"{head}()"
        return head + "(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()))


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first by ``spaces``; blank lines stay empty."""
    first, *rest = text.split("\n")
    pad = " " * spaces
    return "\n".join([first] + [pad + line if line.strip() else "" for line in rest])


class _RemovableHandle:
    """Returned by hook registration; ``remove()`` takes the hook out."""

    _next_id = 0

    def __init__(self, registry: OrderedDict, hook: Callable) -> None:
        _RemovableHandle._next_id += 1
        self.id = _RemovableHandle._next_id
        self._registry = registry
        registry[self.id] = hook

    def remove(self) -> None:
        self._registry.pop(self.id, None)

    def __enter__(self) -> _RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()
