"""Beam's portable runner on loopback: Beam's own Python job service and an external
worker pool, for tests and bench/portable_runner_bench.py.

Flink's and Spark's job servers are Java jars from Maven Central, which these machines
cannot reach (TOWERS.md, last section); Beam's Python job service speaks the same Job API
and its workers the same Fn API as Flink, Spark and Dataflow v2 workers do, so a pipeline
that runs here with `--runner=PortableRunner --environment_type=EXTERNAL` exercises the
path those runners take: pipeline proto submission, artifact staging, SDK workers in
separate processes that must import TFX and this project on their own.

The worker pool is started with the venv's bin first on PATH and the project on
PYTHONPATH: that is what makes its workers import this checkout (as an image would hold it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
from typing import Iterator

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_START_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class PortableBeam:
    job_port: int
    worker_port: int

    @property
    def beam_args(self) -> list[str]:
        """The Beam args that send a pipeline to this job service and worker pool."""
        return [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.worker_port}",
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """terminate -> wait -> kill: the pool's workers are its children and go with it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


@contextlib.contextmanager
def local_portable_beam(log_dir: str) -> Iterator[PortableBeam]:
    """Starts the job service and the worker pool on free loopback ports, waits until both
    accept connections, yields their ports, stops both. Their output goes to `log_dir`."""
    os.makedirs(log_dir, exist_ok=True)
    job_port, worker_port = free_port(), free_port()
    env = _environment()
    commands = {
        "job_service": [
            sys.executable,
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            str(job_port),
        ],
        "worker_pool": [
            sys.executable,
            "-m",
            "apache_beam.runners.worker.worker_pool_main",
            "--service_port",
            str(worker_port),
        ],
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            log = open(os.path.join(log_dir, f"{name}.log"), "wb")
            processes[name] = subprocess.Popen(
                command,
                env=env,
                cwd=log_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        for name, port in (("job_service", job_port), ("worker_pool", worker_port)):
            while not _accepts(port):
                if processes[name].poll() is not None:
                    raise RuntimeError(
                        f"Beam {name} exited with {processes[name].returncode}; "
                        f"see {os.path.join(log_dir, name + '.log')}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Beam {name} not accepting on port {port} after {_START_TIMEOUT:.0f} s"
                    )
                time.sleep(0.2)
        yield PortableBeam(job_port, worker_port)
    finally:
        for process in processes.values():
            _stop(process)
