"""Kubeflow Pipelines and Vertex AI: compile the DAGs, submit runs, manage recurring runs.

Compiling is TFX's KubeflowV2DagRunner (the only Kubeflow runner in TFX 1.16) with
pipeline spec 2.1, offline: it writes the KFP pipeline spec (`.yaml`, what kfp.Client
takes) and the Vertex PipelineJob (`.json`, what aiplatform.PipelineJob takes).

The DAG is built by pipeline.create_pipeline / create_rebuild_pipeline from a copy of the
config that points at the cluster: pipeline root, data and serving dirs from the
`kubeflow` section, the curated schema inside the image (`kubeflow.code_root`, where
docker/Dockerfile installs the project's wheel); the Beam args come from the one builder
(pipeline/beam_options.py) with the image and the wheel inside it.
The Trainer's run_fn is referenced by name, so there is no user module to package.

Talking to KFP goes through the kfp SDK (v2beta1 REST API). Credentials (token, cookies)
are handed to the SDK and never printed, logged or written: every message we show is
scrubbed of them, and the SDK's own prints and retry logs are kept off the terminal.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import logging
import os
import posixpath
import time
import warnings
from typing import Any, Optional

from pipeline import runtime_env
from pipeline.configs import Config

PIPELINE_KINDS = ("full", "rebuild")
SPEC_SCHEMA_VERSION = "2.1.0"
# Relative to the project root, inside the image as on this machine.
SCHEMA_IN_CODE = posixpath.join("pipeline", "schema", "schema.pbtxt")
# kfp's wait_for_run_completion does not stop on CANCELED; we list every terminal state.
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


class KubeflowError(RuntimeError):
    """A failure worth one readable line (unreachable host, refused request, ...)."""


# --- compiling -------------------------------------------------------------------------

@dataclasses.dataclass
class CompiledPipeline:
    kind: str
    name: str
    yaml_path: str  # the KFP pipeline spec: kfp.Client.create_run_from_pipeline_package
    json_path: str  # the Vertex PipelineJob: aiplatform.PipelineJob(template_path=...)
    image: str
    pipeline_root: str
    tasks: list[str]
    enable_cache: bool


def for_kubeflow(config: Config, image: Optional[str] = None) -> Config:
    """A copy of `config` whose paths are the cluster's and the image's, not this machine's."""
    kfp_config = copy.deepcopy(config)
    section = kfp_config.kubeflow
    if image:
        section.image = image
    kfp_config.pipeline.root = section.pipeline_root
    kfp_config.data.data_dir = section.data_dir
    kfp_config.pusher.serving_dir = section.serving_dir
    if not kfp_config.pipeline.schema_file:
        kfp_config.pipeline.schema_file = posixpath.join(section.code_root, SCHEMA_IN_CODE)
    return kfp_config


def build_dag(config: Config, kind: str):
    """The TFX pipeline of `kind` (full | rebuild) from pipeline/pipeline.py."""
    if kind not in PIPELINE_KINDS:
        raise KubeflowError(f"unknown pipeline {kind!r} (choose from {', '.join(PIPELINE_KINDS)})")
    from pipeline import pipeline as dags

    if kind == "rebuild" and not hasattr(dags, "create_rebuild_pipeline"):
        raise KubeflowError("the rebuild DAG is not available in this version "
                            "(pipeline/pipeline.py has no create_rebuild_pipeline)")
    factory = dags.create_pipeline if kind == "full" else dags.create_rebuild_pipeline
    # kubeflow=True: only resolver strategies Kubeflow's v2 compiler knows (pipeline/resolvers.py).
    return factory(config, kubeflow=True)


def compile_pipeline(config: Config, kind: str = "full", image: Optional[str] = None,
                     out: Optional[str] = None) -> CompiledPipeline:
    """Builds the `kind` DAG for the cluster and compiles it; works offline."""
    kfp_config = for_kubeflow(config, image)
    yaml_path, json_path = output_paths(config, kind, out)
    return compile_dag(build_dag(kfp_config, kind), kfp_config.kubeflow.image, yaml_path,
                       json_path, kind)


def output_paths(config: Config, kind: str, out: Optional[str]) -> tuple[str, str]:
    """(.yaml, .json): both next to `out` whichever of the two it names; by default
    <pipeline.root>/kubeflow/<name>-<kind>.*."""
    if not out:
        out = os.path.join(config.pipeline.root, "kubeflow", f"{config.pipeline.name}-{kind}.yaml")
    stem, ext = os.path.splitext(out)
    if ext not in (".yaml", ".yml", ".json"):
        raise KubeflowError(f"--out {out}: name a .yaml (KFP spec) or .json (Vertex job) file")
    if ext == ".json":
        return stem + ".yaml", out
    return out, stem + ".json"


def compile_dag(tfx_pipeline, image: str, yaml_path: str, json_path: str,
                kind: str = "full") -> CompiledPipeline:
    """Compiles a TFX pipeline with KubeflowV2DagRunner (spec 2.1) into both files."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(os.path.abspath(json_path)))
    with _quiet():
        job = runner.run(tfx_pipeline, write_out=False)  # we write both formats below
    spec = job["pipelineSpec"]
    if spec.get("schemaVersion") != SPEC_SCHEMA_VERSION:
        raise KubeflowError(f"compiled spec has schema {spec.get('schemaVersion')}, "
                            f"expected {SPEC_SCHEMA_VERSION}")
    # What kfp.Client does with the .yaml: a spec it cannot parse fails here, not there.
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    for path in (yaml_path, json_path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_yaml(spec, yaml_path, kind)
    with open(json_path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    tasks = sorted(spec["root"]["dag"]["tasks"])
    return CompiledPipeline(
        kind=kind, name=spec["pipelineInfo"]["name"], yaml_path=yaml_path, json_path=json_path,
        image=image, pipeline_root=tfx_pipeline.pipeline_info.pipeline_root, tasks=tasks,
        enable_cache=bool(tfx_pipeline.enable_cache))


def _write_yaml(spec: dict, path: str, kind: str) -> None:
    import yaml

    with open(path, "w") as f:
        f.write(f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n"
                f"# t2i {kind} DAG, compiled by TFX KubeflowV2DagRunner (pipeline spec "
                f"{spec['schemaVersion']}) for kfp.Client\n")
        yaml.safe_dump(spec, f, sort_keys=True)


# --- Kubeflow Pipelines ----------------------------------------------------------------

@dataclasses.dataclass
class Connection:
    """Where the KFP API is and how to authenticate: the kfp SDK's usual options."""
    host: str
    namespace: Optional[str] = None
    token: Optional[str] = dataclasses.field(default=None, repr=False)  # kfp existing_token
    cookies: Optional[str] = dataclasses.field(default=None, repr=False)
    client_id: Optional[str] = None  # IAP OAuth client id (the SDK fetches the token)
    ssl_ca_cert: Optional[str] = None
    kube_context: Optional[str] = None
    sa_token_path: Optional[str] = None  # a projected service-account token file
    ui_host: Optional[str] = None

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.cookies) if s]

    def ui(self) -> str:
        return (self.ui_host or os.environ.get("KF_PIPELINES_UI_ENDPOINT") or self.host).rstrip("/")


@dataclasses.dataclass
class SubmittedRun:
    run_id: str
    experiment_id: str
    experiment: str
    link: str


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


# Connection field -> kfp.Client argument, passed only when set.
_CLIENT_ARGUMENTS = {"namespace": "namespace", "token": "existing_token", "cookies": "cookies",
                     "client_id": "client_id", "ssl_ca_cert": "ssl_ca_cert",
                     "kube_context": "kube_context"}


def connect(connection: Connection):
    """A kfp.Client for `connection`; checks the host answers (healthz)."""
    with _api_errors(connection):
        kwargs: dict[str, Any] = {"host": connection.host}
        for field, argument in _CLIENT_ARGUMENTS.items():
            if getattr(connection, field):
                kwargs[argument] = getattr(connection, field)
        if connection.sa_token_path:
            from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

            kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(connection.sa_token_path)
        with _quiet():
            client = _client_class()(**kwargs)
            # kfp.Client checks healthz only when it knows no namespace: always check.
            client.get_kfp_healthz()
    return client


def _client_class():
    import kfp

    class Client(kfp.Client):
        def get_kfp_healthz(self, sleep_duration: int = 5):
            # kfp retries healthz 5 times, 5 s apart, and then reports only a timeout:
            # one attempt lets a refused token or a wrong URL surface at once, by status.
            return self._healthz_api.get_healthz()

    return Client


def submit(connection: Connection, compiled: CompiledPipeline, experiment: str,
           run_name: Optional[str] = None, enable_caching: Optional[bool] = None,
           client=None) -> SubmittedRun:
    """Creates (or finds) the experiment and starts one run of the compiled .yaml."""
    client = client or connect(connection)
    run_name = run_name or f"{compiled.name}-{compiled.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    with _api_errors(connection), _quiet():
        result = client.create_run_from_pipeline_package(
            compiled.yaml_path, arguments={}, run_name=run_name, experiment_name=experiment,
            namespace=connection.namespace, pipeline_root=compiled.pipeline_root,
            enable_caching=enable_caching)
    return SubmittedRun(run_id=result.run_id, experiment_id=result.run_info.experiment_id or "",
                        experiment=experiment, link=f"{connection.ui()}/#/runs/details/{result.run_id}")


def wait_for_run(connection: Connection, run_id: str, timeout: float, poll: float = 10.0,
                 client=None) -> str:
    """Polls until the run reaches a terminal state (CANCELED included); returns it."""
    client = client or connect(connection)
    deadline = time.monotonic() + timeout
    while True:
        with _api_errors(connection), _quiet():
            state = str(client.get_run(run_id).state or "")
        if state.upper() in TERMINAL_STATES:
            return state.upper()
        if time.monotonic() > deadline:
            raise KubeflowError(f"run {run_id} still {state or 'pending'} after {timeout:.0f} s")
        time.sleep(poll)


def create_recurring_run(connection: Connection, compiled: CompiledPipeline, schedule,
                         experiment: str, name: Optional[str] = None, client=None) -> RecurringRun:
    """A KFP recurring run of the compiled spec on `schedule` (a schedule.CronSchedule):
    KFP's 6-field cron, at most one run at a time, no catch-up of missed runs."""
    client = client or connect(connection)
    name = name or f"{compiled.name}-{compiled.kind}"
    with _api_errors(connection), _quiet():
        experiment_id = client.create_experiment(experiment, namespace=connection.namespace).experiment_id
        created = client.create_recurring_run(
            experiment_id=experiment_id, job_name=name,
            description=f"t2i {compiled.kind} DAG, {schedule.words}",
            cron_expression=schedule.kfp, max_concurrency=1, no_catchup=True,
            pipeline_package_path=compiled.yaml_path, enabled=True,
            pipeline_root=compiled.pipeline_root)
    return _recurring_row(created, connection)


def list_recurring_runs(connection: Connection, client=None) -> list[RecurringRun]:
    client = client or connect(connection)
    rows, token = [], ""
    with _api_errors(connection), _quiet():
        while True:
            page = client.list_recurring_runs(page_token=token, page_size=100,
                                              namespace=connection.namespace)
            rows.extend(_recurring_row(r, connection) for r in page.recurring_runs or [])
            token = page.next_page_token
            if not token:
                return rows


def disable_recurring_run(connection: Connection, recurring_run_id: str, client=None) -> None:
    client = client or connect(connection)
    with _api_errors(connection), _quiet():
        client.disable_recurring_run(recurring_run_id)


def delete_recurring_run(connection: Connection, recurring_run_id: str, client=None) -> None:
    client = client or connect(connection)
    with _api_errors(connection), _quiet():
        client.delete_recurring_run(recurring_run_id)


def _recurring_row(run, connection: Connection) -> RecurringRun:
    from pipeline import schedule as schedules

    cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ""
    try:
        words = schedules.parse_cron(cron).words if cron else "periodic (not cron)"
    except schedules.CronError:
        words = "(not a cron expression t2i understands)"
    return RecurringRun(
        recurring_run_id=run.recurring_run_id, name=run.display_name or "", cron=cron,
        words=words, enabled=(run.status or run.mode or "") in ("ENABLED", "ENABLE"),
        max_concurrency=str(run.max_concurrency or ""), no_catchup=bool(run.no_catchup),
        link=f"{connection.ui()}/#/recurringrun/details/{run.recurring_run_id}")


# --- Vertex AI -------------------------------------------------------------------------

def vertex_job(compiled: CompiledPipeline, project: str, region: str,
               enable_caching: Optional[bool] = None, credentials=None, labels=None):
    """An aiplatform.PipelineJob from the compiled .json; nothing is sent until
    .submit(). `credentials` None = Application Default Credentials."""
    with _quiet():
        from google.cloud import aiplatform

        try:
            return aiplatform.PipelineJob(
                display_name=f"{compiled.name}-{compiled.kind}", template_path=compiled.json_path,
                pipeline_root=compiled.pipeline_root, enable_caching=enable_caching,
                project=project, location=region, credentials=credentials, labels=labels)
        except Exception as e:  # google.auth's DefaultCredentialsError and friends
            raise KubeflowError(f"cannot prepare the Vertex AI job: {_first_line(e)}") from None


def submit_vertex(job, service_account: Optional[str] = None) -> str:
    """Sends the job; returns its console link."""
    try:
        with _quiet():
            job.submit(service_account=service_account)
    except Exception as e:
        raise KubeflowError(f"Vertex AI refused the job: {_first_line(e)}") from None
    return job._dashboard_uri()


# --- errors and quiet ------------------------------------------------------------------

@contextlib.contextmanager
def _api_errors(connection: Connection):
    """Turns the SDK's exceptions into one readable line, never showing a credential."""
    try:
        yield
    except KubeflowError:
        raise
    except Exception as e:
        message = _scrub(_describe(e, connection.host), connection.secrets())
        raise KubeflowError(message) from None


def _describe(error: Exception, host: str) -> str:
    import kfp_server_api
    import urllib3

    if isinstance(error, urllib3.exceptions.MaxRetryError):
        reason = error.reason
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            why = str(reason).rsplit(": ", 1)[-1]
        else:
            why = type(reason).__name__ if reason is not None else "no answer"
        return f"cannot reach Kubeflow Pipelines at {host}: {why}"
    if isinstance(error, kfp_server_api.ApiException):
        hint = " (check the token, cookies or credentials)" if error.status in (401, 403) else ""
        return (f"Kubeflow Pipelines at {host} answered {error.status} {error.reason or ''}"
                f"{hint}: {_server_message(error.body)}").rstrip(": ")
    if isinstance(error, TimeoutError):
        return f"Kubeflow Pipelines at {host} did not answer: {error}"
    return f"Kubeflow Pipelines at {host}: {type(error).__name__}: {_first_line(error)}"


def _server_message(body) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
        return str(data.get("message") or data.get("error") or "")[:300]
    except (ValueError, AttributeError):
        return str(body).strip().splitlines()[0][:300] if str(body).strip() else ""


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _quiet():
    """Keeps the SDKs' prints ("Run details: ..."), retry warnings and FutureWarnings off
    the terminal; we print what matters ourselves. Nothing is hidden with --verbose."""
    if runtime_env.is_verbose():
        yield
        return
    loggers = [logging.getLogger(name) for name in
               ("urllib3", "urllib3.connectionpool", "kfp", "google.cloud.aiplatform", "absl")]
    levels = [logger.level for logger in loggers]
    previous_disable = logging.root.manager.disable
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        # kfp logs retries through the root logger (logging.exception): hold it too.
        logging.disable(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous_disable)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
