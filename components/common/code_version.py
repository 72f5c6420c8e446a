"""A code-version string for TFX caching.

TFX's cache key covers a component's spec, parameters, inputs and a module file's
contents, not the executor's code: without this, an upgraded executor would get stale
cached results. Each custom component passes `code_version(<its package>)` as an
execution parameter, so any change to its sources or to components/common re-runs it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import metadata

_COMMON_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def code_version(*package_dirs: str) -> str:
    """`<project version>+<hash of the packages' and components/common's .py files>`.

    Pass every package whose code the component runs (its own and any it imports)."""
    digest = hashlib.sha256()
    for root in sorted({*(os.path.abspath(d) for d in package_dirs), _COMMON_DIR}):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    digest.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as f:
                        digest.update(f.read())
    return f"{project_version()}+{digest.hexdigest()[:12]}"


def project_version() -> str:
    try:
        return metadata.version("t2i-searcher")
    except metadata.PackageNotFoundError:
        return "0+unknown"
