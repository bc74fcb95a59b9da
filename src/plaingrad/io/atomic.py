"""Writing a file so that a crash never leaves half of it.

``write_atomically`` writes to a temporary file beside the target and renames
it over the target once complete (see its docstring for links, permissions,
read-only folders and what killed saves leave behind).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import stat
import time
from typing import Any


def writable(path: str | os.PathLike, op: str) -> str:
    """``path`` as a string, once it is known that a file can go there."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{op}: {path!r} is a folder, not a file")
    folder = os.path.dirname(path) or "."
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(
            f"{op}: cannot write {path!r}: {folder!r} is a file, not a folder"
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{op}: cannot write {path!r}: the folder {folder!r} does not exist"
        )
    return path


def _temporary_file(folder: str, base: str) -> tuple[int, str]:
    """A new file beside the target, with the permissions a new file gets.

    Not ``tempfile.mkstemp``: its files are private (0600), and the rename
    would give the checkpoint those permissions.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue


_STALE_SECONDS = 3600


def _remove_stale(folder: str, base: str) -> None:
    """Remove what killed saves of ``base`` left (see ``write_atomically``)."""
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{8}}\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    now, user = time.time(), os.geteuid() if hasattr(os, "geteuid") else None
    for name in names:
        if not pattern.fullmatch(name):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if (
                stat.S_ISREG(info.st_mode)
                and now - info.st_mtime > _STALE_SECONDS
                and user in (None, info.st_uid)
            ):
                os.unlink(path)
        except OSError:
            continue


def write_atomically(data: bytes, f: Any, op: str) -> None:
    """Write ``data`` to a path through a temporary file and a rename.

    The temporary file sits in the target's folder (so ``os.replace`` is a
    rename within one file system) and is removed if anything fails, so ``f``
    is either the complete new file or whatever it was before. A file object
    is written directly.

    - A symbolic link is followed: its target is replaced, the link kept.
    - An existing file keeps its permission bits (not its owner: the new file
      belongs to whoever saves).
    - A file in a folder that cannot be written to is refused with
      ``PermissionError``, even where the file itself is writable (where
      ``torch.save`` writes it in place): writing in place would lose the
      guarantee that a crash never leaves half a checkpoint.
    - A process killed midway (``kill -9``) leaves its temporary file,
      ``.NAME.xxxxxxxx.tmp``, beside the target; the next successful save of
      the same target removes such files once they are over an hour old
      (a save still writing after an hour is not plausible) and are plain
      files owned by the saving user.
    """
    if hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError(
                f"{op}: `f` must be opened in binary mode ('wb'), got a text "
                f"file {getattr(f, 'name', f)!r}"
            )
        f.write(data)
        return
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(
            f"{op}: `f` must be a path or a binary file object opened for "
            f"writing, got {type(f).__name__}"
        )
    path = writable(f, op)
    # Through a symbolic link (latest.pt -> ckpt_10.pt): replace its target
    # and keep the link, as writing through it (torch.save) would.
    folder, base = os.path.split(os.path.realpath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777  # an existing file keeps its mode
    except OSError:
        mode = None
    try:
        handle, temporary = _temporary_file(folder, base)
    except OSError as error:
        hint = ""
        if isinstance(error, PermissionError) and os.access(path, os.W_OK):
            hint = (
                "; the file is writable but its folder is not, and plaingrad "
                "writes a temporary file beside it, so that a crash never "
                "leaves half a checkpoint"
            )
        raise type(error)(
            error.errno, f"{op}: cannot write {path!r} ({error.strerror}){hint}"
        ) from None
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # on disk before it can replace the old
        os.replace(temporary, os.path.join(folder, base))
        _remove_stale(folder, base)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError) and error.strerror:
            raise type(error)(
                error.errno, f"{op}: cannot write {path!r} ({error.strerror})"
            ) from None
        raise
