"""What a local schedule tick runs: the rebuild DAG with the local runner, and the command
a crontab entry runs for it."""

from __future__ import annotations

import os
import shlex
import sys

from t2i.schedule.cron import CronError, CronSchedule
from t2i.schedule.loop import Job


SCHEDULE_LOG = "schedule.log"


def rebuild_job(config, log_stream) -> Job:
    """The real tick: the rebuild DAG with the local runner; its summary goes to
    log_stream (the schedule log), one line comes back for the terminal."""

    def job() -> tuple[bool, str]:
        from t2i import workflows

        outcome = workflows.run(
            config, out=log_stream, pipeline_kind="rebuild", scheduled_tick=True
        )
        if not outcome.succeeded:
            return False, (
                f"rebuild run {outcome.run_id} failed in "
                f"{outcome.failed_component or 'the pipeline'}; log {outcome.log_path}"
            )
        # LocalDagRunner can finish without raising while ML Metadata records failed steps
        # (e.g. a condition that cannot be evaluated): the tick must not call that a success.
        failed = [node.node_id for node in outcome.executions if node.state == "FAILED"]
        if failed:
            return False, (
                f"rebuild run {outcome.run_id} recorded failed steps: {', '.join(failed)}; "
                f"log {outcome.log_path}"
            )
        pushed = (
            f"pushed searcher version {outcome.pushed[0]}"
            if outcome.pushed
            else "nothing new pushed"
        )
        return True, f"rebuild run {outcome.run_id} succeeded; {pushed}"

    return job


def crontab_line(schedule: CronSchedule, argv: list[str], log_file: str, workdir: str) -> str:
    """The crontab entry that runs one locked rebuild (`t2i schedule --local --once`) at
    each tick of `schedule`; argv is that command, absolute paths only (cron's PATH is bare)."""
    if schedule.crontab is None:
        raise CronError(
            f'cron "{schedule.source}": crontab has no seconds field; use second 0 '
            "(or a 5-field expression)"
        )
    command = " ".join(shlex.quote(a) for a in argv)
    return (
        f"# t2i: rebuild the index {schedule.words}; an overlapping tick is skipped (lock)\n"
        f"{schedule.crontab} cd {shlex.quote(workdir)} && {command} "
        f">> {shlex.quote(log_file)} 2>&1"
    )


def t2i_executable() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "t2i")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "t2i.cli"]
