"""Schedules: cron expressions (the 5-field crontab form and KFP's 6-field form), the
schedule in words, and the local scheduler that runs the rebuild DAG at each tick.

KFP's recurring runs use robfig/cron with a seconds field first ("0 0 3 * * *"), while
crontab and most people write 5 fields ("0 3 * * *"): a 5-field expression given to KFP
as-is is read with its minute as the second (kubeflow/pipelines#5014). So every
expression is parsed here, field by field, and converted explicitly.

The local scheduler runs in the foreground. A rebuild holds an fcntl.flock lock file under
the pipeline root, so two rebuilds never overlap, whichever scheduler (or cron job) starts
them; a tick that finds the lock taken is skipped with a message. Imports no TensorFlow
or TFX: a skipped tick costs milliseconds.
"""
from __future__ import annotations

import dataclasses
import datetime
import fcntl
import os
import shlex
import sys
import time
from typing import Callable, Optional

LOCK_NAME = "rebuild.lock"
SCHEDULE_LOG = "schedule.log"


class CronError(ValueError):
    """An expression cron cannot take; the message names the field and the reason."""


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple = ()  # names[i] stands for low + i
    question_mark: bool = False  # robfig accepts "?" (= "*") in the day fields


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_WORDS = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31, question_mark=True),
    _Field("month", 1, 12, _MONTHS),
    # 0-6: robfig/cron (KFP) has no 7 for Sunday, unlike Vixie cron.
    _Field("day-of-week", 0, 6, _DAYS, question_mark=True),
)
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclasses.dataclass(frozen=True)
class CronSchedule:
    source: str  # as the user wrote it
    fields: tuple  # six normalized fields, seconds first

    @property
    def kfp(self) -> str:
        """KFP's (robfig/cron's) 6-field form, seconds first."""
        return " ".join(self.fields)

    @property
    def crontab(self) -> Optional[str]:
        """The 5-field crontab form; None when the schedule needs a seconds field."""
        return " ".join(self.fields[1:]) if self.fields[0] == "0" else None

    @property
    def words(self) -> str:
        return describe(self)

    def next_times(self, start: datetime.datetime, count: int = 1) -> list[datetime.datetime]:
        from croniter import croniter

        it = croniter(self.kfp, start, second_at_beginning=True)
        return [it.get_next(datetime.datetime) for _ in range(count)]


def parse_cron(expression: str) -> CronSchedule:
    """Parses a 5-field (crontab) or 6-field (KFP, seconds first) expression or a macro
    such as @daily; raises CronError saying which field is wrong and why."""
    text = " ".join(expression.split())
    if not text:
        raise CronError("empty cron expression")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f'cron "{text}": unknown macro (known: {", ".join(MACROS)}); '
                            "@every intervals are not cron: write the fields instead")
        parts = MACROS[text.lower()].split()
    else:
        parts = text.split(" ")
    if len(parts) == 5:
        parts = ["0"] + parts  # explicit: a crontab expression fires at second 0
    elif len(parts) != 6:
        raise CronError(
            f'cron "{text}": {len(parts)} fields; expected 5 (minute hour day-of-month month '
            "day-of-week, as in crontab) or 6 (second minute hour day-of-month month "
            "day-of-week, KFP's form with seconds first)")
    fields = tuple(_normalize(part, spec, text) for part, spec in zip(parts, FIELDS))
    return CronSchedule(source=expression, fields=fields)


def _normalize(text: str, spec: _Field, expression: str) -> str:
    def fail(reason: str) -> CronError:
        return CronError(f'cron "{expression}": {spec.name} field "{text}": {reason}')

    items = []
    for item in text.split(","):
        if not item:
            raise fail("empty list item")
        base, slash, step = item.partition("/")
        if slash:
            if not step.isdigit() or int(step) < 1:
                raise fail(f'step "{step}" must be a whole number of at least 1')
            step = str(int(step))
        if base in ("*", "?"):
            if base == "?" and not spec.question_mark:
                raise fail('"?" is allowed only in the day-of-month and day-of-week fields')
            items.append("*" + (f"/{step}" if slash else ""))
            continue
        low_text, dash, high_text = base.partition("-")
        low = _value(low_text, spec, fail)
        if dash:
            high = _value(high_text, spec, fail)
            if low > high:
                raise fail(f"range {low_text}-{high_text} runs backwards")
            items.append(f"{low}-{high}" + (f"/{step}" if slash else ""))
        else:
            items.append(f"{low}" + (f"/{step}" if slash else ""))
    return ",".join(items)


def _value(text: str, spec: _Field, fail) -> int:
    if text.upper() in spec.names:
        return spec.low + spec.names.index(text.upper())
    if not text.isdigit():
        if text.upper() in ("L", "W") or "#" in text or text.upper().endswith(("L", "W")):
            raise fail(f'"{text}" (L, W, #) is not supported by KFP\'s cron')
        allowed = f"{spec.low}-{spec.high}"
        if spec.names:
            allowed += f" or {spec.names[0]}-{spec.names[-1]}"
        raise fail(f'"{text}" is not a number ({allowed})')
    value = int(text)
    if spec.name == "day-of-week" and value == 7:
        raise fail("7 is not a day in KFP's cron: use 0 for Sunday")
    if not spec.low <= value <= spec.high:
        raise fail(f"{value} is out of range {spec.low}-{spec.high}")
    return value


# --- the schedule in words -------------------------------------------------------------

def describe(schedule: CronSchedule) -> str:
    """E.g. "at 03:00 every day", "every 15 minutes", "at 09:00 on Monday through Friday"."""
    second, minute, hour, dom, month, dow = schedule.fields
    when, at_clock_time = _time_words(second, minute, hour)
    days = _day_words(dom, month, dow)
    if days == "every day" and not at_clock_time:
        return when  # "every 15 minutes", not "every 15 minutes every day"
    return f"{when} {days}"


def _time_words(second: str, minute: str, hour: str) -> tuple[str, bool]:
    if _is_number(second) and _is_number(minute) and all(_is_number(h) for h in hour.split(",")):
        clock = ":%02d" % int(minute) + (":%02d" % int(second) if second != "0" else "")
        return "at " + _join([f"{int(h):02d}{clock}" for h in hour.split(",")]), True
    parts = []
    if second == "*":
        parts.append("every second")
    elif second.startswith("*/"):
        parts.append(f"every {second[2:]} seconds")
    elif second != "0":
        parts.append(f"at second {_list_words(second, 'second')}")
    if minute == "*":
        if second == "0":
            parts.append("every minute")
    elif minute.startswith("*/"):
        parts.append(f"every {minute[2:]} minutes")
    else:
        parts.append(f"at minute {_list_words(minute, 'minute')}")
    if hour == "*":
        if _is_number(minute) or minute.count(",") or "-" in minute:
            parts.append("of every hour")
    elif hour.startswith("*/"):
        parts.append(f"every {hour[2:]} hours")
    else:
        parts.append(f"during hour {_list_words(hour, 'hour')}")
    return (" ".join(parts) if parts else "every minute"), False


def _day_words(dom: str, month: str, dow: str) -> str:
    dom_any, dow_any = dom == "*", dow == "*"
    if dom_any and dow_any:
        days = "every day"
    elif dow_any and dom.startswith("*/"):
        days = f"on every {_ordinal(int(dom[2:]))} day of the month"
    elif dow_any:
        days = f"on day {_list_words(dom, 'day-of-month')} of the month"
    elif dom_any:
        days = f"on {_list_words(dow, 'day-of-week')}"
    else:  # cron's rule: a day matching either field
        days = (f"on day {_list_words(dom, 'day-of-month')} of the month "
                f"or on {_list_words(dow, 'day-of-week')}")
    if month != "*":
        days += f" in {_list_words(month, 'month')}"
    return days


def _list_words(text: str, field: str) -> str:
    return _join([_item_words(item, field) for item in text.split(",")])


def _item_words(item: str, field: str) -> str:
    base, _, step = item.partition("/")
    if base == "*":
        low, high = None, None
    else:
        low, _, high = base.partition("-")
    name = {"day-of-week": lambda v: _DAY_WORDS[int(v)],
            "month": lambda v: _MONTH_WORDS[int(v) - 1]}.get(field, str)
    if step:
        span = "" if low is None else f" from {name(low)}" + (f" through {name(high)}" if high else "")
        return f"every {_ordinal(int(step))}{span}"
    if high:
        return f"{name(low)} through {name(high)}"
    return name(low)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_number(text: str) -> bool:
    return text.isdigit()


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# --- the lock --------------------------------------------------------------------------

def lock_path(config) -> str:
    """<pipeline root>/rebuild.lock: the same folder pipeline.resolve_paths names, computed
    without importing TFX, so a tick that finds the lock taken is skipped at once."""
    root = os.path.abspath(config.pipeline.root)
    return os.path.join(root, "pipelines", config.pipeline.name, LOCK_NAME)


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
        os.write(fd, f"pid {os.getpid()} since {_now_text()}\n".encode())
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


# --- ticks and the loop ----------------------------------------------------------------

@dataclasses.dataclass
class TickResult:
    number: int
    status: str  # "ok" | "failed" | "skipped"
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        took = f" in {self.seconds:.0f} s" if self.status != "skipped" else ""
        return f"{_now_text()} tick {self.number}: {self.status}{took}: {self.detail}"


# A job runs one rebuild and returns (succeeded, one-line summary).
Job = Callable[[], "tuple[bool, str]"]


def run_tick(job: Job, lock_file: str, number: int) -> TickResult:
    lock = RebuildLock(lock_file)
    if not lock.acquire():
        return TickResult(number, "skipped",
                          f"another rebuild is still running ({lock.holder()}; lock {lock_file})")
    started = time.monotonic()
    try:
        succeeded, summary = job()
    except Exception as e:  # a tick's failure must not stop the scheduler
        succeeded, summary = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        lock.release()
    return TickResult(number, "ok" if succeeded else "failed", summary, time.monotonic() - started)


def run_scheduler(schedule: CronSchedule, job: Job, lock_file: str, log: Callable[[str], None],
                  max_ticks: Optional[int] = None, clock: Callable[[], float] = time.time,
                  sleep: Callable[[float], None] = time.sleep) -> list[TickResult]:
    """Runs `job` at each tick of `schedule` (local time), one line per tick, until
    max_ticks ticks have run (None: until interrupted). No catch-up: times that fall due
    while a rebuild runs are skipped, with a message."""
    it = _croniter(schedule, clock())
    due = it.get_next(float)
    log(f"{_now_text()} scheduler: rebuild {schedule.words} (cron \"{schedule.kfp}\"); "
        f"first tick at {_time_text(due)}; lock {lock_file}")
    results: list[TickResult] = []
    while max_ticks is None or len(results) < max_ticks:
        while (left := due - clock()) > 0:
            sleep(min(left, 1.0))  # short naps keep Ctrl-C responsive
        result = run_tick(job, lock_file, len(results) + 1)
        results.append(result)
        log(result.line())
        missed, first_missed = 0, None
        due = it.get_next(float)
        while due <= clock():
            missed, first_missed = missed + 1, first_missed or due
            due = it.get_next(float)
        if missed and (max_ticks is None or len(results) < max_ticks):
            log(f"{_now_text()} skipped {missed} tick(s) due from {_time_text(first_missed)} "
                f"while tick {result.number} ran (no catch-up); next tick at {_time_text(due)}")
    return results


def _croniter(schedule: CronSchedule, start: float):
    from croniter import croniter

    return croniter(schedule.kfp, datetime.datetime.fromtimestamp(start), second_at_beginning=True)


def rebuild_job(config, log_stream) -> Job:
    """The real tick: the rebuild DAG with the local runner; its summary goes to
    log_stream (the schedule log), one line comes back for the terminal."""
    def job() -> tuple[bool, str]:
        from pipeline import pipeline as dags, workflows

        if not hasattr(dags, "create_rebuild_pipeline"):
            return False, "the rebuild DAG is not available (pipeline/pipeline.py has no create_rebuild_pipeline)"
        outcome = workflows.run(config, out=log_stream, pipeline_kind="rebuild")
        if not outcome.succeeded:
            return False, (f"rebuild run {outcome.run_id} failed in "
                           f"{outcome.failed_component or 'the pipeline'}; log {outcome.log_path}")
        # LocalDagRunner can finish without raising while ML Metadata records failed steps
        # (e.g. a condition that cannot be evaluated): the tick must not call that a success.
        failed = _failed_steps(config, outcome.run_id)
        if failed:
            return False, (f"rebuild run {outcome.run_id} recorded failed steps: {', '.join(failed)}; "
                           f"log {outcome.log_path}")
        pushed = (f"pushed searcher version {outcome.pushed[0]}" if outcome.pushed
                  else "nothing new pushed")
        return True, f"rebuild run {outcome.run_id} succeeded; {pushed}"
    return job


def _failed_steps(config, run_id: str) -> list[str]:
    from pipeline import metadata_store

    store = metadata_store.connect(os.path.abspath(config.pipeline.root))
    return [node.node_id for node in metadata_store.run_executions(store, run_id)
            if node.state == "FAILED"]


def crontab_line(schedule: CronSchedule, argv: list[str], log_file: str, workdir: str) -> str:
    """The crontab entry that runs one locked rebuild (`t2i schedule --local --once`) at
    each tick of `schedule`; argv is that command, absolute paths only (cron's PATH is bare)."""
    if schedule.crontab is None:
        raise CronError(f'cron "{schedule.source}": crontab has no seconds field; use second 0 '
                        "(or a 5-field expression)")
    command = " ".join(shlex.quote(a) for a in argv)
    return (f"# t2i: rebuild the index {schedule.words}; an overlapping tick is skipped (lock)\n"
            f"{schedule.crontab} cd {shlex.quote(workdir)} && {command} "
            f">> {shlex.quote(log_file)} 2>&1")


def t2i_executable() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "t2i")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "pipeline.cli"]


def _now_text() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _time_text(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
