"""Running code in a process where TensorFlow cannot be imported.

tflite-support's C++ extensions clash with TensorFlow's pybind types in one process
(docs/STACK.md §3), and a phone has no TensorFlow either: the on-device side (index file,
metadata, Task Library checks, `t2i search`) runs TF-free. Executors call `run_module`;
a TF-free module calls `block_tensorflow()` before importing tflite_support.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
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
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # a native crash leaves its Python stack
    result = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        how = (
            f"crashed with {signal.Signals(-result.returncode).name} in native code"
            if result.returncode < 0
            else f"failed (exit {result.returncode})"
        )
        raise TfFreeError(f"{module} {how}:\n{tail}")
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise TfFreeError(f"{module} printed no reply")
    return json.loads(lines[-1])


class Session:
    """A TF-free module kept running across requests: one JSON line in, one JSON line out
    per request (`python -m <module> --session`). For a caller that sends many requests
    in a row (the SearcherBuilder's build search): the Task Library and the module are
    loaded once, and latencies measured in one process compare side by side."""

    def __init__(self, module: str):
        self.module = module
        # stderr goes to a file: a pipe nobody reads would block the child once full.
        self.stderr = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--session"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=dict(os.environ),
        )

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.stderr.seek(0)
            tail = "\n".join(self.stderr.read().strip().splitlines()[-15:])
            raise TfFreeError(f"{self.module} failed (exit {self.process.returncode}):\n{tail}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(timeout=60)
        if self.process.stdout:
            self.process.stdout.close()
        self.stderr.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
