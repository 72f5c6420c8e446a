"""A cron schedule in English: "at 03:00 every day", "every 15 minutes",
"at 09:00 on Monday through Friday"."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from t2i.schedule.cron import CronSchedule


_DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


_MONTH_WORDS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


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
        days = (
            f"on day {_list_words(dom, 'day-of-month')} of the month "
            f"or on {_list_words(dow, 'day-of-week')}"
        )
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
    name = {
        "day-of-week": lambda v: _DAY_WORDS[int(v)],
        "month": lambda v: _MONTH_WORDS[int(v) - 1],
    }.get(field, str)
    if step:
        span = (
            "" if low is None else f" from {name(low)}" + (f" through {name(high)}" if high else "")
        )
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
