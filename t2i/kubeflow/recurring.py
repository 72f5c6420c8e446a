"""KFP recurring runs: create, list, disable, delete."""

from __future__ import annotations

import dataclasses
from typing import Optional

from t2i.kubeflow.client import Connection, connect
from t2i.kubeflow.compiler import CompiledPipeline
from t2i.kubeflow.errors import api_errors, quiet


@dataclasses.dataclass
class RecurringRun:
    recurring_run_id: str
    name: str
    cron: str
    words: str
    enabled: bool
    max_concurrency: str
    no_catchup: bool
    link: str


def create_recurring_run(
    connection: Connection,
    compiled: CompiledPipeline,
    schedule,
    experiment: str,
    name: Optional[str] = None,
    client=None,
) -> RecurringRun:
    """A KFP recurring run of the compiled spec on `schedule` (a schedule.CronSchedule):
    KFP's 6-field cron, at most one run at a time, no catch-up of missed runs."""
    client = client or connect(connection)
    name = name or f"{compiled.name}-{compiled.kind}"
    with api_errors(connection), quiet():
        experiment_id = client.create_experiment(
            experiment, namespace=connection.namespace
        ).experiment_id
        created = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            description=f"t2i {compiled.kind} DAG, {schedule.words}",
            cron_expression=schedule.kfp,
            max_concurrency=1,
            no_catchup=True,
            pipeline_package_path=compiled.yaml_path,
            enabled=True,
            pipeline_root=compiled.pipeline_root,
        )
    return _recurring_row(created, connection)


def list_recurring_runs(connection: Connection, client=None) -> list[RecurringRun]:
    client = client or connect(connection)
    rows: list[RecurringRun] = []
    token = ""
    with api_errors(connection), quiet():
        while True:
            page = client.list_recurring_runs(
                page_token=token, page_size=100, namespace=connection.namespace
            )
            rows.extend(_recurring_row(r, connection) for r in page.recurring_runs or [])
            token = page.next_page_token
            if not token:
                return rows


def disable_recurring_run(connection: Connection, recurring_run_id: str, client=None) -> None:
    client = client or connect(connection)
    with api_errors(connection), quiet():
        client.disable_recurring_run(recurring_run_id)


def delete_recurring_run(connection: Connection, recurring_run_id: str, client=None) -> None:
    client = client or connect(connection)
    with api_errors(connection), quiet():
        client.delete_recurring_run(recurring_run_id)


def _recurring_row(run, connection: Connection) -> RecurringRun:
    from t2i.schedule.cron import CronError, parse_cron

    cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ""
    try:
        words = parse_cron(cron).words if cron else "periodic (not cron)"
    except CronError:
        words = "(not a cron expression t2i understands)"
    return RecurringRun(
        recurring_run_id=run.recurring_run_id,
        name=run.display_name or "",
        cron=cron,
        words=words,
        enabled=(run.status or run.mode or "") in ("ENABLED", "ENABLE"),
        max_concurrency=str(run.max_concurrency or ""),
        no_catchup=bool(run.no_catchup),
        link=f"{connection.ui()}/#/recurringrun/details/{run.recurring_run_id}",
    )
