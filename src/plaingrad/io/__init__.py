"""Checkpoints: safetensors files plus JSON structure; never pickle.

Loading a checkpoint must never run code from it, which is why plaingrad
stores tensors in the safetensors format (a JSON header and raw bytes: reading
one can only ever produce arrays) and never pickles.

- ``save_safetensors`` / ``load_safetensors`` (``safetensors_file``) read and
  write named tensors, a state dict, as plain safetensors files that any
  safetensors reader (``safetensors.torch.load_file``) understands, and read
  any such file, bfloat16 included (as float32, with a warning).
- ``save`` / ``load`` (``checkpoint``) are ``torch.save`` / ``torch.load`` for
  what training scripts checkpoint: nested dicts, lists and tuples of tensors,
  numbers, strings, bools and None (model, optimizer and scheduler state
  dicts, RNG states, ``{'epoch': 3, 'model': ...}``). The tensors go into a
  safetensors file under their dotted paths; the structure goes, as JSON, into
  its header (``structure``).
- ``load`` also reads the zip files PyTorch's ``torch.save`` writes
  (``torch_file``) through a restricted unpickler that rebuilds tensors and
  plain containers and refuses every other global, the guarantee of
  ``torch.load(weights_only=True)``: PyTorch weights load without PyTorch and
  without trusting the file.

Files are written to a temporary file in the target's folder and renamed over
it only when complete, so an error or a crash never leaves half a checkpoint.
The files ``save`` and ``save_safetensors`` write record a SHA-256 digest of
each tensor's bytes (``integrity``), checked on loading, so that a file
damaged later is refused rather than loaded with wrong values. A file that is
damaged, truncated or in no format plaingrad reads raises ``CheckpointError``,
a ``ValueError`` that names the file and what is wrong.
"""

from .checkpoint import load, save
from .errors import CheckpointError
from .safetensors_file import (
    load_safetensors,
    load_safetensors_metadata,
    save_safetensors,
)
from .torch_file import UnsafeGlobalError

__all__ = [
    "CheckpointError",
    "UnsafeGlobalError",
    "load",
    "load_safetensors",
    "load_safetensors_metadata",
    "save",
    "save_safetensors",
]
