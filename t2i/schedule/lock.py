"""The scheduler's lock is the pipeline root's lock (t2i/root_lock.py, at Paths.lock_file):
a tick, a manual `t2i run --pipeline rebuild`, a full run and a cron job's tick all take the
same one, so none of them overlaps another on one root."""

from __future__ import annotations

from t2i.root_lock import now_text  # noqa: F401 (the scheduler's time stamps)
