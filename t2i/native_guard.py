"""A native crash (segfault, abort) in a TF-free command is reported in words.

A crash inside native code (the Task Library, ML Metadata) kills the process before any
Python handler runs, and `t2i search` silences native stderr, so the user saw only
"Segmentation fault" or nothing. A guarded command re-runs its own command line in a child
process that has `faulthandler` writing the Python stack to a file; the parent (which
imported nothing native) turns a death by signal into one line saying what was being done
and where the stack is. The parent costs one interpreter start (~0.2 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import click

CRASH_FILE_ENV = "T2I_CRASH_FILE"
_ENTRY_POINTS = ("t2i", "cli.py")  # how a user starts the CLI: console script or the module


def run_guarded(what: str) -> None:
    """Call first thing in a command. In the child, enables faulthandler and returns. In a
    parent started as the `t2i` command, runs the command line in a child and exits with
    its code, or on a death by signal prints "<what> crashed ..." and exits 128 + signal.
    Called in-process (tests, a library user) it only enables faulthandler."""
    crash_file = os.environ.get(CRASH_FILE_ENV)
    if crash_file or os.path.basename(sys.argv[0]) not in _ENTRY_POINTS:
        _enable_faulthandler(crash_file)
        return
    fd, crash_file = tempfile.mkstemp(prefix="t2i-crash-", suffix=".txt")
    os.close(fd)
    module = click.get_current_context().find_root().command.callback.__module__
    if module == "__main__":
        module = "t2i.cli"
    command = [
        sys.executable,
        "-c",
        f"from {module} import main; main(prog_name='t2i')",
        *sys.argv[1:],
    ]
    try:
        code = subprocess.call(command, env={**os.environ, CRASH_FILE_ENV: crash_file})
    except KeyboardInterrupt:  # the child got the Ctrl-C too and has said so
        code = 130
    if code >= 0:
        os.unlink(crash_file)
        sys.exit(code)
    name = signal.Signals(-code).name
    stack = _last_frames(crash_file)
    click.echo(
        f"error: crashed with {name} in native code while {what}. This is a bug; "
        f"the Python stack is in {crash_file}" + (f":\n{stack}" if stack else ""),
        err=True,
    )
    sys.exit(128 - code)


def _enable_faulthandler(crash_file: str | None) -> None:
    import faulthandler

    if crash_file:
        faulthandler.enable(file=open(crash_file, "w"))  # noqa: SIM115 (lives until exit)
    elif not faulthandler.is_enabled():
        faulthandler.enable()


def _last_frames(crash_file: str, lines: int = 6) -> str:
    try:
        with open(crash_file) as f:
            text = [line.rstrip() for line in f if line.strip().startswith("File ")]
    except OSError:
        return ""
    return "\n".join(text[:lines])
