"""`t2i schedule`: scheduled rebuilds, as a KFP recurring run (--host) or locally (--local).
Registered on the `t2i` group by t2i/cli.py.

One command, three modes, each in its own function: create a KFP recurring run (--cron),
manage the existing ones (--list, --disable, --delete), or schedule locally (--local,
--print-crontab, --once). A local tick that finds another rebuild running imports neither
TensorFlow nor TFX.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import Optional

import click

from t2i.cli_errors import CommandError

from t2i.cli_kubeflow import (
    KINDS,
    AuthOptions,
    auth_options,
    compile_for_kubeflow,
    connection,
    echo_compiled,
    require_storage,
)
from t2i.cli_runs import config_options, load


@click.command("schedule")
@click.option(
    "--cron",
    "cron_text",
    metavar="EXPR",
    help='5 fields as in crontab ("0 3 * * *") or KFP\'s 6 with seconds first.',
)
@click.option(
    "--host", envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint [$KF_PIPELINES_ENDPOINT]."
)
@click.option("--pipeline", "kind", type=KINDS, default="rebuild", show_default=True)
@click.option("--experiment", default="t2i-searcher", show_default=True)
@click.option("--name", help="Recurring run name [<name>-<pipeline>].")
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option("--list", "list_runs", is_flag=True, help="List the recurring runs.")
@click.option("--disable", "disable_id", metavar="ID", help="Disable a recurring run.")
@click.option("--delete", "delete_id", metavar="ID", help="Delete a recurring run.")
@click.option(
    "--local", is_flag=True, help="Run the rebuild DAG locally at each tick, in the foreground."
)
@click.option(
    "--print-crontab", is_flag=True, help="Local: print the equivalent crontab line instead."
)
@click.option(
    "--once",
    is_flag=True,
    help="Local: one rebuild now, under the lock (what the crontab line runs).",
)
@click.option("--ticks", type=click.IntRange(min=1), help="Local: stop after this many ticks.")
@auth_options
@config_options
def schedule_command(
    cron_text,
    host,
    kind,
    experiment,
    name,
    image,
    list_runs,
    disable_id,
    delete_id,
    local,
    print_crontab,
    once,
    ticks,
    auth,
    config_path,
    overrides,
    root,
):
    """Scheduled rebuilds: a KFP recurring run (--host), or locally (--local)."""
    cron = _parse_cron(cron_text)
    manage = [
        flag
        for flag, value in (
            ("--list", list_runs),
            ("--disable", disable_id),
            ("--delete", delete_id),
        )
        if value
    ]
    if local or print_crontab or once:
        if host or manage:
            raise click.UsageError("--local does not take --host, --list, --disable or --delete")
        if kind != "rebuild":
            raise click.UsageError("the local scheduler runs the rebuild pipeline only")
        _schedule_local(cron, print_crontab, once, ticks, config_path, overrides, root)
        return
    if not host:
        raise click.UsageError("--host is required (or set KF_PIPELINES_ENDPOINT), or use --local")
    if len(manage) + bool(cron) != 1:
        raise click.UsageError("give exactly one of --cron, --list, --disable ID, --delete ID")
    from t2i.kubeflow.errors import KubeflowError

    try:
        if cron:
            config = load(config_path, overrides, root)
            require_storage(config)
            _schedule_kfp(host, auth, cron, kind, experiment, name, image, config)
        else:
            _manage_kfp(host, auth, list_runs, disable_id, delete_id)
    except KubeflowError as e:
        raise CommandError(str(e)) from None


def _parse_cron(cron_text: Optional[str]):
    from t2i.schedule.cron import CronError, parse_cron

    try:
        return parse_cron(cron_text) if cron_text else None
    except CronError as e:
        raise click.BadParameter(str(e), param_hint="--cron") from None


def _echo_cron(cron) -> None:
    click.echo(f"schedule: {cron.words}")
    converted = (
        f' (from the 5-field "{cron.source.strip()}": KFP\'s cron has seconds first)'
        if len(cron.source.split()) == 5
        else ""
    )
    click.echo(f'  KFP cron "{cron.kfp}"{converted}')
    nexts = cron.next_times(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None), 3)
    click.echo(
        "  next (UTC, the usual controller time zone): "
        + ", ".join(t.strftime("%Y-%m-%d %H:%M:%S") for t in nexts)
    )


def _schedule_kfp(
    host: str, auth: AuthOptions, cron, kind, experiment, name, image, config
) -> None:
    from t2i.kubeflow.client import connect
    from t2i.kubeflow.recurring import create_recurring_run

    _echo_cron(cron)
    kfp_connection = connection(host, auth)
    client = connect(kfp_connection)  # fail on a bad host before compiling for 20 s
    compiled = compile_for_kubeflow(config, kind, image, None)
    echo_compiled(compiled)
    created = create_recurring_run(kfp_connection, compiled, cron, experiment, name, client=client)
    click.echo(
        f'created recurring run {created.recurring_run_id} "{created.name}" in experiment '
        f"{experiment}: at most {created.max_concurrency} run at a time, no catch-up"
    )
    click.echo(f"  {created.link}")


def _manage_kfp(
    host: str,
    auth: AuthOptions,
    list_runs: bool,
    disable_id: Optional[str],
    delete_id: Optional[str],
) -> None:
    from t2i.kubeflow import recurring

    kfp_connection = connection(host, auth)
    if list_runs:
        rows = recurring.list_recurring_runs(kfp_connection)
        if not rows:
            click.echo("no recurring runs")
        for row in rows:
            state = "enabled " if row.enabled else "disabled"
            click.echo(f'{row.recurring_run_id}  {state}  {row.name}  "{row.cron}"  {row.words}')
    elif disable_id:
        recurring.disable_recurring_run(kfp_connection, disable_id)
        click.echo(f"disabled recurring run {disable_id}")
    elif delete_id:
        recurring.delete_recurring_run(kfp_connection, delete_id)
        click.echo(f"deleted recurring run {delete_id}")


def _schedule_local(cron, print_crontab, once, ticks, config_path, overrides, root) -> None:
    from t2i.schedule import job as jobs
    from t2i.schedule.cron import CronError
    from t2i.schedule.loop import run_scheduler, run_tick

    from t2i.paths import Paths

    config = load(config_path, overrides, root)
    _preflight(config, check_root=not print_crontab)
    paths = Paths.from_config(config)
    log_file = os.path.join(paths.logs_dir, jobs.SCHEDULE_LOG)
    if print_crontab:
        if cron is None:
            raise click.UsageError("--print-crontab needs --cron")
        argv = jobs.t2i_executable() + ["schedule", "--local", "--once"]
        argv += _config_argv(config_path, overrides, root)
        try:
            click.echo(jobs.crontab_line(cron, argv, log_file, os.getcwd()))
        except CronError as e:
            raise click.BadParameter(str(e), param_hint="--cron") from None
        return
    if not once and cron is None:
        raise click.UsageError("--local needs --cron (or --once for a single rebuild now)")
    os.makedirs(paths.logs_dir, exist_ok=True)
    with open(log_file, "a", buffering=1) as log_stream:

        def log(line: str) -> None:
            click.echo(line)
            log_stream.write(line + "\n")

        job = jobs.rebuild_job(config, log_stream)
        lock = paths.lock_file
        if once:
            result = run_tick(job, lock, 1)
            log(result.line())
            sys.exit(1 if result.status == "failed" else 0)
        try:
            results = run_scheduler(cron, job, lock, log, max_ticks=ticks)
        except KeyboardInterrupt:
            log(f"scheduler stopped (log {log_file})")
            return
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _preflight(config, check_root: bool) -> None:
    """The checks a tick's run makes, made once up front: a scheduler that would fail at
    every tick stops now, before waiting for the first one."""
    from components.common.options import ConfigError
    from t2i import preflight
    from t2i.cli_errors import EXIT_USAGE

    try:
        preflight.check_config(config)
        if check_root:  # the data may arrive later: each tick's run checks it
            preflight.check_root(config.pipeline.root)
    except (ConfigError, preflight.RootError) as e:
        raise CommandError(str(e), EXIT_USAGE) from None


def _config_argv(config_path, overrides, root) -> list[str]:
    argv = []
    if config_path:
        argv += ["--config", os.path.abspath(config_path)]
    for item in overrides:
        argv += ["--set", item]
    argv += ["--root", os.path.abspath(root)] if root else []
    return argv


COMMANDS = (schedule_command,)
