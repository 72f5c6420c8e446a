"""The rebuild lock: an fcntl.flock file under the pipeline root, so two rebuilds never
overlap, whichever scheduler (or cron job) starts them."""
from __future__ import annotations

import datetime
import fcntl
import os
from typing import Optional



class RebuildLock:
    """An exclusive, non-blocking flock. The kernel drops it when the holder exits, so a
    crashed rebuild never leaves a stale lock; the file only says who holds it."""

    def __init__(self, path: str):
        self.path = path
        self._fd: Optional[int] = None

    def acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {now_text()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            with open(self.path) as f:
                return f.read().strip() or "unknown holder"
        except OSError:
            return "unknown holder"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def now_text() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
