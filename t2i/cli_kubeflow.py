"""`t2i compile` and `t2i submit`: Kubeflow Pipelines and Vertex AI. Registered on the
`t2i` group by t2i/cli.py.

Compiling imports TFX (docs/STACK.md §6); talking to KFP imports only the kfp SDK.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from typing import Optional

import click

from t2i.cli_errors import CommandError

from t2i.cli_runs import config_options, load

KINDS = click.Choice(["full", "rebuild"])
TOKEN_ENV = "T2I_KFP_TOKEN"


@dataclasses.dataclass(frozen=True)
class AuthOptions:
    """The authentication options of a KFP command, as given (file paths, not secrets)."""

    token_file: Optional[str] = None
    cookies_file: Optional[str] = None
    client_id: Optional[str] = None
    sa_token_path: Optional[str] = None
    ssl_ca_cert: Optional[str] = None
    kube_context: Optional[str] = None
    ui_host: Optional[str] = None
    namespace: Optional[str] = None


def auth_options(command):
    """The kfp SDK's authentication options, handed to the command as one `auth`
    (AuthOptions). No option takes a secret's value: argv is visible to every user of the
    machine, so tokens come from a file or the environment."""
    options = [
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False, exists=True),
            help=f"A file holding a bearer token (kfp existing_token); or set {TOKEN_ENV}.",
        ),
        click.option(
            "--cookies-file",
            type=click.Path(dir_okay=False, exists=True),
            help="A file holding the cookie header for a session-authenticated endpoint.",
        ),
        click.option("--client-id", help="IAP OAuth client id: the kfp SDK obtains the token."),
        click.option(
            "--sa-token",
            "sa_token_path",
            type=click.Path(dir_okay=False),
            help="A projected service-account token file (in-cluster style auth).",
        ),
        click.option(
            "--ssl-ca-cert",
            type=click.Path(dir_okay=False, exists=True),
            help="CA bundle for the endpoint's TLS certificate.",
        ),
        click.option("--kube-context", help="kubeconfig context for a port-forwarded endpoint."),
        click.option("--ui-host", help="Base URL of the KFP UI for links [the host]."),
        click.option("--namespace", help="Kubernetes namespace (multi-user Kubeflow)."),
    ]
    names = [f.name for f in dataclasses.fields(AuthOptions)]

    @functools.wraps(command)
    def with_auth(*args, **kwargs):
        auth = AuthOptions(**{name: kwargs.pop(name) for name in names})
        return command(*args, auth=auth, **kwargs)

    for option in reversed(options):
        with_auth = option(with_auth)
    return with_auth


def connection(host: str, auth: AuthOptions):
    """The kubeflow Connection for `host`: the token from --token-file or $T2I_KFP_TOKEN."""
    from t2i.kubeflow.client import Connection

    token = _read_secret(auth.token_file) if auth.token_file else os.environ.get(TOKEN_ENV) or None
    cookies = _read_secret(auth.cookies_file) if auth.cookies_file else None
    return Connection(
        host=host.rstrip("/"),
        namespace=auth.namespace,
        token=token,
        cookies=cookies,
        client_id=auth.client_id,
        ssl_ca_cert=auth.ssl_ca_cert,
        kube_context=auth.kube_context,
        sa_token_path=auth.sa_token_path,
        ui_host=auth.ui_host,
    )


def _read_secret(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def compile_for_kubeflow(config, kind, image, out):
    from t2i.kubeflow.compiler import compile_pipeline
    from t2i.kubeflow.errors import KubeflowError

    click.echo(f"t2i: compiling the {kind} pipeline for Kubeflow (importing TFX first) ...")
    try:
        return compile_pipeline(config, kind, image=image, out=out)
    except KubeflowError as e:
        raise CommandError(str(e)) from None


def placeholders(config) -> list[str]:
    """The kubeflow.* storage fields still at the shipped gs://YOUR_BUCKET/... defaults."""
    section = config.kubeflow
    return [
        f"kubeflow.{name}"
        for name in ("pipeline_root", "data_dir", "serving_dir")
        if "YOUR_BUCKET" in getattr(section, name)
    ]


def require_storage(config) -> None:
    missing = placeholders(config)
    if missing:
        raise click.UsageError(
            f"{', '.join(missing)} still point at gs://YOUR_BUCKET/...: set them in the config or "
            "with --set kubeflow.pipeline_root=gs://my-bucket/t2i (and data_dir, serving_dir)"
        )


def echo_compiled(compiled) -> None:
    click.echo(
        f"compiled the {compiled.kind} DAG: {len(compiled.tasks)} tasks, image {compiled.image}, "
        f"caching {'on' if compiled.enable_cache else 'off'}"
    )
    click.echo(f"  KFP pipeline spec (kfp.Client):   {compiled.yaml_path}")
    click.echo(f"  Vertex PipelineJob (aiplatform):  {compiled.json_path}")
    click.echo(f"  pipeline root: {compiled.pipeline_root}")
    if "/" not in compiled.image.split(":")[0]:
        click.echo(
            f"  note: {compiled.image} names no registry; the cluster must be able to pull it "
            "(push it and pass --image or set kubeflow.image)"
        )


@click.command("compile")
@click.option("--pipeline", "kind", type=KINDS, default="full", show_default=True)
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="The .yaml (KFP spec) or .json (Vertex job) to write; the other goes next to it "
    "[<root>/kubeflow/<name>-<pipeline>.yaml].",
)
@config_options
def compile_command(kind, image, out, config_path, overrides, root):
    """Compile a DAG for Kubeflow Pipelines (.yaml) and Vertex AI (.json); works offline."""
    config = load(config_path, overrides, root)
    compiled = compile_for_kubeflow(config, kind, image, out)
    echo_compiled(compiled)
    if placeholders(config):
        click.echo(
            f"  note: {', '.join(placeholders(config))} are still the gs://YOUR_BUCKET "
            "placeholders; set them before submitting"
        )


@click.command("submit")
@click.option(
    "--host", envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint [$KF_PIPELINES_ENDPOINT]."
)
@click.option("--experiment", default="t2i-searcher", show_default=True)
@click.option("--pipeline", "kind", type=KINDS, default="full", show_default=True)
@click.option("--image", help="Container image the components run in [kubeflow.image].")
@click.option("--run-name", help="Run name [<name>-<pipeline>-<time>].")
@click.option("--no-cache", is_flag=True, help="Run every step (overrides the spec's caching).")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(min=1),
    help="Wait up to this many seconds for the run to finish.",
)
@click.option("--vertex", is_flag=True, help="Submit to Vertex AI Pipelines instead.")
@click.option("--project", help="Vertex AI: Google Cloud project.")
@click.option("--region", help="Vertex AI: region, e.g. us-central1.")
@click.option("--service-account", help="Service account the run executes as.")
@click.option("--dry-run", is_flag=True, help="Vertex AI: build the PipelineJob, do not send it.")
@auth_options
@config_options
def submit_command(
    host,
    experiment,
    kind,
    image,
    run_name,
    no_cache,
    wait_seconds,
    vertex,
    project,
    region,
    service_account,
    dry_run,
    auth,
    config_path,
    overrides,
    root,
):
    """Compile and submit a run to Kubeflow Pipelines (--host) or Vertex AI (--vertex)."""
    from t2i.kubeflow import client as kfp
    from t2i.kubeflow.errors import KubeflowError

    if vertex and not (project and region):
        raise click.UsageError("--vertex needs --project and --region")
    if not vertex and not host:
        raise click.UsageError("--host is required (or set KF_PIPELINES_ENDPOINT), or use --vertex")
    if dry_run and not vertex:
        raise click.UsageError("--dry-run is for --vertex; to only compile, use `t2i compile`")
    config = load(config_path, overrides, root)
    if not dry_run:
        require_storage(config)
    caching = False if no_cache else None
    try:
        if vertex:
            compiled = compile_for_kubeflow(config, kind, image, None)
            echo_compiled(compiled)
            _submit_vertex(compiled, project, region, service_account, dry_run, caching)
            return
        kfp_connection = connection(host, auth)
        client = kfp.connect(kfp_connection)  # a bad host fails before a 20 s compile
        compiled = compile_for_kubeflow(config, kind, image, None)
        echo_compiled(compiled)
        run = kfp.submit(kfp_connection, compiled, experiment, run_name, caching, client=client)
        click.echo(f"submitted run {run.run_id} (experiment {run.experiment})")
        click.echo(f"  {run.link}")
        if wait_seconds:
            state = kfp.wait_for_run(kfp_connection, run.run_id, wait_seconds, client=client)
            click.echo(f"run {run.run_id}: {state}")
            if state != "SUCCEEDED":
                sys.exit(1)
    except KubeflowError as e:
        raise CommandError(str(e)) from None


def _submit_vertex(compiled, project, region, service_account, dry_run, caching):
    from t2i.kubeflow import vertex

    credentials = None
    if dry_run:  # building the request needs no real credentials; sending would
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    job = vertex.vertex_job(
        compiled, project, region, enable_caching=caching, credentials=credentials
    )
    if dry_run:
        resource = job._gca_resource
        click.echo(
            f"Vertex AI PipelineJob {job.job_id} (not sent): project {project}, region {region}, "
            f"{len(resource.pipeline_spec['root']['dag']['tasks'])} tasks, "
            f"pipeline root {resource.runtime_config.gcs_output_directory}"
        )
        return
    link = vertex.submit_vertex(job, service_account)
    click.echo(f"submitted Vertex AI PipelineJob {job.resource_name}")
    click.echo(f"  {link}")


COMMANDS = (compile_command, submit_command)
