"""The local scheduler: one tick runs a job under the rebuild lock; the loop runs a tick at
each time the cron schedule names, in the foreground, with no catch-up."""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from typing import Callable, Optional

from t2i.schedule.cron import CronSchedule
from t2i import root_lock
from t2i.schedule.lock import now_text


@dataclasses.dataclass
class TickResult:
    number: int
    status: str  # "ok" | "failed" | "skipped"
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        took = f" in {self.seconds:.0f} s" if self.status != "skipped" else ""
        return f"{now_text()} tick {self.number}: {self.status}{took}: {self.detail}"


# A job runs one rebuild and returns (succeeded, one-line summary).
Job = Callable[[], "tuple[bool, str]"]


def run_tick(job: Job, lock_file: str, number: int) -> TickResult:
    """Runs `job` holding the pipeline root's lock (`lock_file`); skipped, naming the holder,
    when another command holds it. The job's own run passes through the lock it holds."""
    started = time.monotonic()
    try:
        with root_lock.hold(os.path.dirname(lock_file), path=lock_file):
            succeeded, summary = job()
    except root_lock.RootBusyError as busy:
        holder = busy.holder.describe() if busy.holder else "another process"
        return TickResult(
            number, "skipped", f"the pipeline root is in use by {holder} (lock {lock_file})"
        )
    except Exception as e:  # a tick's failure must not stop the scheduler
        succeeded, summary = (
            False,
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
        )
    return TickResult(number, "ok" if succeeded else "failed", summary, time.monotonic() - started)


def run_scheduler(
    schedule: CronSchedule,
    job: Job,
    lock_file: str,
    log: Callable[[str], None],
    max_ticks: Optional[int] = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TickResult]:
    """Runs `job` at each tick of `schedule` (local time), one line per tick, until
    max_ticks ticks have run (None: until interrupted). No catch-up: times that fall due
    while a rebuild runs are skipped, with a message."""
    it = _croniter(schedule, clock())
    due = it.get_next(float)
    log(
        f'{now_text()} scheduler: rebuild {schedule.words} (cron "{schedule.kfp}"); '
        f"first tick at {_time_text(due)}; lock {lock_file}"
    )
    results: list[TickResult] = []
    while max_ticks is None or len(results) < max_ticks:
        while (left := due - clock()) > 0:
            sleep(min(left, 1.0))  # short naps keep Ctrl-C responsive
        result = run_tick(job, lock_file, len(results) + 1)
        results.append(result)
        log(result.line())
        missed, first_missed = 0, due
        due = it.get_next(float)
        while due <= clock():
            first_missed = due if not missed else first_missed
            missed += 1
            due = it.get_next(float)
        if missed and (max_ticks is None or len(results) < max_ticks):
            log(
                f"{now_text()} skipped {missed} tick(s) due from {_time_text(first_missed)} "
                f"while tick {result.number} ran (no catch-up); next tick at {_time_text(due)}"
            )
    return results


def _croniter(schedule: CronSchedule, start: float):
    from croniter import croniter

    return croniter(schedule.kfp, datetime.datetime.fromtimestamp(start), second_at_beginning=True)


def _time_text(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
