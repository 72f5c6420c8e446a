"""Cron expressions: the 5-field crontab form and KFP's 6-field form.

KFP's recurring runs use robfig/cron with a seconds field first ("0 0 3 * * *"), while
crontab and most people write 5 fields ("0 3 * * *"): a 5-field expression given to KFP
as-is is read with its minute as the second (kubeflow/pipelines#5014). So every
expression is parsed here, field by field, and converted explicitly.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Optional


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
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
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
        from t2i.schedule.words import describe

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
            raise CronError(
                f'cron "{text}": unknown macro (known: {", ".join(MACROS)}); '
                "@every intervals are not cron: write the fields instead"
            )
        parts = MACROS[text.lower()].split()
    else:
        parts = text.split(" ")
    if len(parts) == 5:
        parts = ["0"] + parts  # explicit: a crontab expression fires at second 0
    elif len(parts) != 6:
        raise CronError(
            f'cron "{text}": {len(parts)} fields; expected 5 (minute hour day-of-month month '
            "day-of-week, as in crontab) or 6 (second minute hour day-of-month month "
            "day-of-week, KFP's form with seconds first)"
        )
    fields = tuple(_normalize(part, spec, text) for part, spec in zip(parts, FIELDS))
    schedule = CronSchedule(source=expression, fields=fields)
    _check_it_fires(schedule, text)
    return schedule


def _check_it_fires(schedule: CronSchedule, text: str) -> None:
    """A valid expression can still name no date ("0 3 31 2 *": February has no 31st);
    a scheduler on it would wait forever, or crash computing its first tick."""
    from croniter import CroniterBadDateError

    try:
        schedule.next_times(datetime.datetime(2000, 1, 1))
    except CroniterBadDateError:
        raise CronError(
            f'cron "{text}": never fires: no month it names has the day of the '
            "month it names (e.g. February 30 or 31, April 31)"
        ) from None


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
