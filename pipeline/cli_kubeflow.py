"""`t2i compile`, `t2i submit` and `t2i schedule`: Kubeflow Pipelines, Vertex AI and the
local scheduler. Registered on the `t2i` group by pipeline/cli.py.

Compiling imports TFX (~20 s); talking to KFP imports only the kfp SDK; a local schedule
tick that finds another rebuild running imports neither.
"""
from __future__ import annotations

import os
import sys

import click

from pipeline.cli_runs import config_options, load

KINDS = click.Choice(["full", "rebuild"])
TOKEN_ENV = "T2I_KFP_TOKEN"


def auth_options(command):
    """The kfp SDK's authentication options. No option takes a secret's value: argv is
    visible to every user of the machine, so tokens come from a file or the environment."""
    options = [
        click.option("--token-file", type=click.Path(dir_okay=False, exists=True),
                     help=f"A file holding a bearer token (kfp existing_token); or set {TOKEN_ENV}."),
        click.option("--cookies-file", type=click.Path(dir_okay=False, exists=True),
                     help="A file holding the cookie header for a session-authenticated endpoint."),
        click.option("--client-id", help="IAP OAuth client id: the kfp SDK obtains the token."),
        click.option("--sa-token", "sa_token_path", type=click.Path(dir_okay=False),
                     help="A projected service-account token file (in-cluster style auth)."),
        click.option("--ssl-ca-cert", type=click.Path(dir_okay=False, exists=True),
                     help="CA bundle for the endpoint's TLS certificate."),
        click.option("--kube-context", help="kubeconfig context for a port-forwarded endpoint."),
        click.option("--ui-host", help="Base URL of the KFP UI for links [the host]."),
        click.option("--namespace", help="Kubernetes namespace (multi-user Kubeflow)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _connection(host, token_file, cookies_file, client_id, sa_token_path, ssl_ca_cert,
                kube_context, ui_host, namespace):
    from pipeline.kubeflow import Connection

    token = _read_secret(token_file) if token_file else os.environ.get(TOKEN_ENV) or None
    cookies = _read_secret(cookies_file) if cookies_file else None
    return Connection(host=host.rstrip("/"), namespace=namespace, token=token, cookies=cookies,
                      client_id=client_id, ssl_ca_cert=ssl_ca_cert, kube_context=kube_context,
                      sa_token_path=sa_token_path, ui_host=ui_host)


def _read_secret(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _compile(config, kind, image, out):
    from pipeline import kubeflow

    click.echo(f"t2i: compiling the {kind} pipeline for Kubeflow (importing TFX takes ~20 s) ...")
    try:
        return kubeflow.compile_pipeline(config, kind, image=image, out=out)
    except kubeflow.KubeflowError as e:
        raise click.ClickException(str(e)) from None


def _placeholders(config) -> list[str]:
    """The kubeflow.* storage fields still at the shipped gs://YOUR_BUCKET/... defaults."""
    section = config.kubeflow
    return [f"kubeflow.{name}" for name in ("pipeline_root", "data_dir", "serving_dir")
            if "YOUR_BUCKET" in getattr(section, name)]


def _require_storage(config) -> None:
    missing = _placeholders(config)
    if missing:
        raise click.UsageError(
            f"{', '.join(missing)} still point at gs://YOUR_BUCKET/...: set them in the config or "
            "with --set kubeflow.pipeline_root=gs://my-bucket/t2i (and data_dir, serving_dir)")


def _echo_compiled(compiled) -> None:
    click.echo(f"compiled the {compiled.kind} DAG: {len(compiled.tasks)} tasks, image {compiled.image}, "
               f"caching {'on' if compiled.enable_cache else 'off'}")
    click.echo(f"  KFP pipeline spec (kfp.Client):   {compiled.yaml_path}")
    click.echo(f"  Vertex PipelineJob (aiplatform):  {compiled.json_path}")
    click.echo(f"  pipeline root: {compiled.pipeline_root}")
    if "/" not in compiled.image.split(":")[0]:
        click.echo(f"  note: {compiled.image} names no registry; the cluster must be able to pull it "
                   "(push it and pass --image or set kubeflow.image)")


@click.command("compile")
@click.option("--pipeline", "kind", type=KINDS, default="full", show_default=True)
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option("--out", type=click.Path(dir_okay=False),
              help="The .yaml (KFP spec) or .json (Vertex job) to write; the other goes next to it "
                   "[<root>/kubeflow/<name>-<pipeline>.yaml].")
@config_options
def compile_command(kind, image, out, config_path, overrides, root):
    """Compile a DAG for Kubeflow Pipelines (.yaml) and Vertex AI (.json); works offline."""
    config = load(config_path, overrides, root)
    compiled = _compile(config, kind, image, out)
    _echo_compiled(compiled)
    if _placeholders(config):
        click.echo(f"  note: {', '.join(_placeholders(config))} are still the gs://YOUR_BUCKET "
                   "placeholders; set them before submitting")


@click.command("submit")
@click.option("--host", envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint [$KF_PIPELINES_ENDPOINT].")
@click.option("--experiment", default="t2i-searcher", show_default=True)
@click.option("--pipeline", "kind", type=KINDS, default="full", show_default=True)
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option("--run-name", help="Run name [<name>-<pipeline>-<time>].")
@click.option("--no-cache", is_flag=True, help="Run every step (overrides the spec's caching).")
@click.option("--wait", "wait_seconds", type=click.IntRange(min=1),
              help="Wait up to this many seconds for the run to finish.")
@click.option("--vertex", is_flag=True, help="Submit to Vertex AI Pipelines instead.")
@click.option("--project", help="Vertex AI: Google Cloud project.")
@click.option("--region", help="Vertex AI: region, e.g. us-central1.")
@click.option("--service-account", help="Service account the run executes as.")
@click.option("--dry-run", is_flag=True, help="Vertex AI: build the PipelineJob, do not send it.")
@auth_options
@config_options
def submit_command(host, experiment, kind, image, run_name, no_cache, wait_seconds, vertex,
                   project, region, service_account, dry_run, token_file, cookies_file, client_id,
                   sa_token_path, ssl_ca_cert, kube_context, ui_host, namespace, config_path,
                   overrides, root):
    """Compile and submit a run to Kubeflow Pipelines (--host) or Vertex AI (--vertex)."""
    from pipeline import kubeflow

    if vertex and not (project and region):
        raise click.UsageError("--vertex needs --project and --region")
    if not vertex and not host:
        raise click.UsageError("--host is required (or set KF_PIPELINES_ENDPOINT), or use --vertex")
    if dry_run and not vertex:
        raise click.UsageError("--dry-run is for --vertex; to only compile, use `t2i compile`")
    config = load(config_path, overrides, root)
    if not dry_run:
        _require_storage(config)
    caching = False if no_cache else None
    try:
        if vertex:
            compiled = _compile(config, kind, image, None)
            _echo_compiled(compiled)
            _submit_vertex(kubeflow, compiled, project, region, service_account, dry_run, caching)
            return
        connection = _connection(host, token_file, cookies_file, client_id, sa_token_path,
                                 ssl_ca_cert, kube_context, ui_host, namespace)
        client = kubeflow.connect(connection)  # a bad host fails before a 20 s compile
        compiled = _compile(config, kind, image, None)
        _echo_compiled(compiled)
        run = kubeflow.submit(connection, compiled, experiment, run_name, caching, client=client)
        click.echo(f"submitted run {run.run_id} (experiment {run.experiment})")
        click.echo(f"  {run.link}")
        if wait_seconds:
            state = kubeflow.wait_for_run(connection, run.run_id, wait_seconds, client=client)
            click.echo(f"run {run.run_id}: {state}")
            if state != "SUCCEEDED":
                sys.exit(1)
    except kubeflow.KubeflowError as e:
        raise click.ClickException(str(e)) from None


def _submit_vertex(kubeflow, compiled, project, region, service_account, dry_run, caching):
    credentials = None
    if dry_run:  # building the request needs no real credentials; sending would
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    job = kubeflow.vertex_job(compiled, project, region, enable_caching=caching, credentials=credentials)
    if dry_run:
        resource = job._gca_resource
        click.echo(f"Vertex AI PipelineJob {job.job_id} (not sent): project {project}, region {region}, "
                   f"{len(resource.pipeline_spec['root']['dag']['tasks'])} tasks, "
                   f"pipeline root {resource.runtime_config.gcs_output_directory}")
        return
    link = kubeflow.submit_vertex(job, service_account)
    click.echo(f"submitted Vertex AI PipelineJob {job.resource_name}")
    click.echo(f"  {link}")


@click.command("schedule")
@click.option("--cron", "cron_text", metavar="EXPR",
              help='5 fields as in crontab ("0 3 * * *") or KFP\'s 6 with seconds first.')
@click.option("--host", envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint [$KF_PIPELINES_ENDPOINT].")
@click.option("--pipeline", "kind", type=KINDS, default="rebuild", show_default=True)
@click.option("--experiment", default="t2i-searcher", show_default=True)
@click.option("--name", help="Recurring run name [<name>-<pipeline>].")
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option("--list", "list_runs", is_flag=True, help="List the recurring runs.")
@click.option("--disable", "disable_id", metavar="ID", help="Disable a recurring run.")
@click.option("--delete", "delete_id", metavar="ID", help="Delete a recurring run.")
@click.option("--local", is_flag=True, help="Run the rebuild DAG locally at each tick, in the foreground.")
@click.option("--print-crontab", is_flag=True, help="Local: print the equivalent crontab line instead.")
@click.option("--once", is_flag=True, help="Local: one rebuild now, under the lock (what the crontab line runs).")
@click.option("--ticks", type=click.IntRange(min=1), help="Local: stop after this many ticks.")
@auth_options
@config_options
def schedule_command(cron_text, host, kind, experiment, name, image, list_runs, disable_id,
                     delete_id, local, print_crontab, once, ticks, token_file, cookies_file,
                     client_id, sa_token_path, ssl_ca_cert, kube_context, ui_host, namespace,
                     config_path, overrides, root):
    """Scheduled rebuilds: a KFP recurring run (--host), or locally (--local)."""
    from pipeline import schedule

    try:
        cron = schedule.parse_cron(cron_text) if cron_text else None
    except schedule.CronError as e:
        raise click.BadParameter(str(e), param_hint="--cron") from None
    manage = [flag for flag, value in (("--list", list_runs), ("--disable", disable_id),
                                       ("--delete", delete_id)) if value]
    if local or print_crontab or once:
        if host or manage:
            raise click.UsageError("--local does not take --host, --list, --disable or --delete")
        if kind != "rebuild":
            raise click.UsageError("the local scheduler runs the rebuild pipeline only")
        _schedule_local(schedule, cron, print_crontab, once, ticks, config_path, overrides, root)
        return
    if not host:
        raise click.UsageError("--host is required (or set KF_PIPELINES_ENDPOINT), or use --local")
    if len(manage) + bool(cron) != 1:
        raise click.UsageError("give exactly one of --cron, --list, --disable ID, --delete ID")
    connection = _connection(host, token_file, cookies_file, client_id, sa_token_path,
                             ssl_ca_cert, kube_context, ui_host, namespace)
    from pipeline import kubeflow

    try:
        if cron:
            config = load(config_path, overrides, root)
            _require_storage(config)
            _schedule_kfp(kubeflow, connection, cron, kind, experiment, name, image, config)
        elif list_runs:
            _list_kfp(kubeflow, connection)
        elif disable_id:
            kubeflow.disable_recurring_run(connection, disable_id)
            click.echo(f"disabled recurring run {disable_id}")
        else:
            kubeflow.delete_recurring_run(connection, delete_id)
            click.echo(f"deleted recurring run {delete_id}")
    except kubeflow.KubeflowError as e:
        raise click.ClickException(str(e)) from None


def _echo_cron(cron) -> None:
    import datetime

    click.echo(f"schedule: {cron.words}")
    converted = (f' (from the 5-field "{cron.source.strip()}": KFP\'s cron has seconds first)'
                 if len(cron.source.split()) == 5 else "")
    click.echo(f'  KFP cron "{cron.kfp}"{converted}')
    nexts = cron.next_times(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None), 3)
    click.echo("  next (UTC, the usual controller time zone): "
               + ", ".join(t.strftime("%Y-%m-%d %H:%M:%S") for t in nexts))


def _schedule_kfp(kubeflow, connection, cron, kind, experiment, name, image, config) -> None:
    _echo_cron(cron)
    client = kubeflow.connect(connection)  # fail on a bad host before compiling for 20 s
    compiled = _compile(config, kind, image, None)
    _echo_compiled(compiled)
    created = kubeflow.create_recurring_run(connection, compiled, cron, experiment, name, client=client)
    click.echo(f'created recurring run {created.recurring_run_id} "{created.name}" in experiment '
               f"{experiment}: at most {created.max_concurrency} run at a time, no catch-up")
    click.echo(f"  {created.link}")


def _list_kfp(kubeflow, connection) -> None:
    rows = kubeflow.list_recurring_runs(connection)
    if not rows:
        click.echo("no recurring runs")
    for row in rows:
        state = "enabled " if row.enabled else "disabled"
        click.echo(f"{row.recurring_run_id}  {state}  {row.name}  \"{row.cron}\"  {row.words}")


def _schedule_local(schedule, cron, print_crontab, once, ticks, config_path, overrides, root) -> None:
    config = load(config_path, overrides, root)
    log_dir = os.path.join(os.path.abspath(config.pipeline.root), "logs")
    log_file = os.path.join(log_dir, schedule.SCHEDULE_LOG)
    if print_crontab:
        if cron is None:
            raise click.UsageError("--print-crontab needs --cron")
        argv = schedule.t2i_executable() + ["schedule", "--local", "--once"]
        argv += _config_argv(config_path, overrides, root)
        try:
            click.echo(schedule.crontab_line(cron, argv, log_file, os.getcwd()))
        except schedule.CronError as e:
            raise click.BadParameter(str(e), param_hint="--cron") from None
        return
    if not once and cron is None:
        raise click.UsageError("--local needs --cron (or --once for a single rebuild now)")
    os.makedirs(log_dir, exist_ok=True)
    with open(log_file, "a", buffering=1) as log_stream:
        def log(line: str) -> None:
            click.echo(line)
            log_stream.write(line + "\n")

        job = schedule.rebuild_job(config, log_stream)
        lock = schedule.lock_path(config)
        if once:
            result = schedule.run_tick(job, lock, 1)
            log(result.line())
            sys.exit(1 if result.status == "failed" else 0)
        try:
            results = schedule.run_scheduler(cron, job, lock, log, max_ticks=ticks)
        except KeyboardInterrupt:
            log(f"scheduler stopped (log {log_file})")
            return
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _config_argv(config_path, overrides, root) -> list[str]:
    argv = []
    if config_path:
        argv += ["--config", os.path.abspath(config_path)]
    for item in overrides:
        argv += ["--set", item]
    argv += ["--root", os.path.abspath(root or "runs")] if root else []
    return argv


COMMANDS = (compile_command, submit_command, schedule_command)
