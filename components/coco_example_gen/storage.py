"""File access for local paths and remote URIs (gs://...).

Local paths use the OS directly (fast, and the only place symlinks exist); anything with a
scheme goes through tf.io.gfile, imported lazily so TF-free callers never load it.
"""

from __future__ import annotations

import glob as _glob
import os
import posixpath
import shutil


def is_remote(path: str) -> bool:
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(*parts: str) -> str:
    return posixpath.join(*parts) if is_remote(parts[0]) else os.path.join(*parts)


def glob(pattern: str) -> list[str]:
    if is_remote(pattern):
        return sorted(_gfile().glob(pattern))
    return sorted(_glob.glob(pattern))


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def subdirectories(path: str) -> list[str]:
    if is_remote(path):
        gfile = _gfile()
        return sorted(n.rstrip("/") for n in gfile.listdir(path) if gfile.isdir(join(path, n)))
    return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))


def read_bytes(path: str) -> bytes:
    """The file's bytes; raises FileNotFoundError when it does not exist."""
    if is_remote(path):
        gfile = _gfile()
        if not gfile.exists(path):
            raise FileNotFoundError(path)
        with gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    if is_remote(path):
        with _gfile().GFile(path, "w") as f:
            f.write(text)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove_tree(path: str) -> None:
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def relative_to(path: str, root: str) -> str:
    """`path` relative to `root` (which contains it), with forward slashes."""
    module = posixpath if is_remote(root) else os.path
    return module.relpath(path, root).replace(os.sep, "/")
