"""Running code in a process where TensorFlow cannot be imported.

tflite-support's C++ extensions clash with TensorFlow's pybind types in one process
(docs/STACK.md §3), and a phone has no TensorFlow either: the on-device side (index file,
metadata, Task Library checks, `t2i search`) runs TF-free. Executors call `run_module`;
a TF-free module calls `block_tensorflow()` before importing tflite_support.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def block_tensorflow() -> None:
    """Makes `import tensorflow` fail in this process (before any tflite_support import)."""
    if "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None:
        raise RuntimeError("TensorFlow is already imported; this code must run TF-free")
    sys.modules["tensorflow"] = None  # type: ignore[assignment]


class TfFreeError(RuntimeError):
    pass


def run_module(module: str, request: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Runs `python -m <module>` with the JSON request on stdin; returns its JSON reply.

    The module reads one JSON object from stdin and prints one JSON object as its last
    stdout line. A non-zero exit raises TfFreeError carrying the end of its stderr.
    """
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", module], input=json.dumps(request), capture_output=True,
        text=True, timeout=timeout, env=env,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise TfFreeError(f"{module} failed (exit {result.returncode}):\n{tail}")
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise TfFreeError(f"{module} printed no reply")
    return json.loads(lines[-1])
