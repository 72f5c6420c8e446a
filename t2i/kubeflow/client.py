"""Talking to Kubeflow Pipelines through the kfp SDK (v2beta1 REST API): connect, submit a
compiled run, wait for it. Credentials (token, cookies) are handed to the SDK and never
printed, logged or written (errors.py scrubs every message)."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Optional

from t2i.kubeflow.compiler import CompiledPipeline
from t2i.kubeflow.errors import KubeflowError, api_errors, quiet


# kfp's wait_for_run_completion does not stop on CANCELED; we list every terminal state.
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


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


# Connection field -> kfp.Client argument, passed only when set.
_CLIENT_ARGUMENTS = {
    "namespace": "namespace",
    "token": "existing_token",
    "cookies": "cookies",
    "client_id": "client_id",
    "ssl_ca_cert": "ssl_ca_cert",
    "kube_context": "kube_context",
}


def connect(connection: Connection):
    """A kfp.Client for `connection`; checks the host answers (healthz)."""
    with api_errors(connection):
        kwargs: dict[str, Any] = {"host": connection.host}
        for field, argument in _CLIENT_ARGUMENTS.items():
            if getattr(connection, field):
                kwargs[argument] = getattr(connection, field)
        if connection.sa_token_path:
            from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

            kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(connection.sa_token_path)
        with quiet():
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


def submit(
    connection: Connection,
    compiled: CompiledPipeline,
    experiment: str,
    run_name: Optional[str] = None,
    enable_caching: Optional[bool] = None,
    client=None,
) -> SubmittedRun:
    """Creates (or finds) the experiment and starts one run of the compiled .yaml."""
    client = client or connect(connection)
    run_name = run_name or f"{compiled.name}-{compiled.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    with api_errors(connection), quiet():
        result = client.create_run_from_pipeline_package(
            compiled.yaml_path,
            arguments={},
            run_name=run_name,
            experiment_name=experiment,
            namespace=connection.namespace,
            pipeline_root=compiled.pipeline_root,
            enable_caching=enable_caching,
        )
    return SubmittedRun(
        run_id=result.run_id,
        experiment_id=result.run_info.experiment_id or "",
        experiment=experiment,
        link=f"{connection.ui()}/#/runs/details/{result.run_id}",
    )


def wait_for_run(
    connection: Connection, run_id: str, timeout: float, poll: float = 10.0, client=None
) -> str:
    """Polls until the run reaches a terminal state (CANCELED included); returns it."""
    client = client or connect(connection)
    deadline = time.monotonic() + timeout
    while True:
        with api_errors(connection), quiet():
            state = str(client.get_run(run_id).state or "")
        if state.upper() in TERMINAL_STATES:
            return state.upper()
        if time.monotonic() > deadline:
            raise KubeflowError(f"run {run_id} still {state or 'pending'} after {timeout:.0f} s")
        time.sleep(poll)
