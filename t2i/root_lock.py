"""One lock per pipeline root: every command that writes there (`t2i run`, a rebuild, a
scheduler tick, `t2i demo`) holds it, so two of them never train, embed or push over each
other. TF-free and cheap: a command that finds the root taken says so before importing TFX.

An exclusive fcntl.flock on `<root>/t2i.lock`. The kernel drops it when the holder exits
however it exits (kill -9 included), so a lock is never stale; the file's content only
names the holder (pid, command, run id, since when). Re-entrant within a process: a
scheduler tick holds it and the rebuild it runs in-process passes through. The same
holder record tells `t2i runs` which "running" run is really running: with the lock free,
no process is running anything in that root, so an unfinished run was abandoned.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_held: dict[str, RootLock] = {}  # realpath of root -> the lock this process holds


class RootBusyError(RuntimeError):
    """Another process holds the root; the message names it."""

    def __init__(self, message: str, holder: Holder | None):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    since: str
    run_id: str = ""

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"pid {self.pid} (`{self.command}`{run}) since {self.since}"


def lock_path(root: str) -> str:
    from t2i.paths import Paths

    return Paths.of(root).lock_file


def now_text() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def current_command() -> str:
    return " ".join(["t2i", *sys.argv[1:]]) if sys.argv else "t2i"


class RootLock:
    def __init__(self, root: str, command: str | None = None, path: str | None = None):
        self.root = os.path.abspath(root)
        self.path = path or lock_path(root)
        self.command = command or current_command()
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self.set_run_id("")
        return True

    def acquire(
        self,
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        """Takes the lock, or raises RootBusyError naming the holder; with `wait`, waits
        for it (telling `on_wait` who it waits for, once)."""
        told = False
        while not self.try_acquire():
            holder = self.holder()
            described = holder.describe() if holder else "another process"
            if not wait:
                raise RootBusyError(
                    f"{self.root} is in use by {described}; wait for it to finish, or pass "
                    "--wait to wait for it",
                    holder,
                )
            if on_wait and not told:
                on_wait(f"waiting for {described} to finish with {self.root} ...")
                told = True
            time.sleep(poll_seconds)

    def set_run_id(self, run_id: str) -> None:
        """Rewrites the holder record (the run id is known only once the run starts)."""
        if self._fd is None:
            return
        record = {
            "pid": os.getpid(),
            "command": self.command,
            "run_id": run_id,
            "since": now_text(),
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(record) + "\n").encode(), 0)

    def holder(self) -> Holder | None:
        try:
            with open(self.path) as f:
                record = json.loads(f.read() or "null")
            return Holder(
                int(record["pid"]),
                str(record["command"]),
                str(record["since"]),
                str(record.get("run_id") or ""),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def hold(
    root: str,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    command: str | None = None,
    path: str | None = None,
) -> Iterator[RootLock]:
    """Holds the root's lock for the block (re-entrant within this process). Raises
    RootBusyError naming the holder unless `wait`."""
    lock = RootLock(root, command, path)
    key = os.path.realpath(lock.path)
    if key in _held:
        yield _held[key]
        return
    lock.acquire(wait=wait, on_wait=on_wait)
    _held[key] = lock
    try:
        yield lock
    finally:
        del _held[key]
        lock.release()


def active_run(root: str) -> tuple[bool, str]:
    """(is any process holding the root, the run id it runs or ""). Read-only: it takes the
    lock for an instant only when it is free."""
    if not os.path.exists(lock_path(root)):
        return False, ""
    probe = RootLock(root)
    if os.path.realpath(probe.path) in _held:
        holder = probe.holder()
        return True, holder.run_id if holder else ""
    fd = os.open(probe.path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = probe.holder()
        return True, holder.run_id if holder else ""
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False, ""
