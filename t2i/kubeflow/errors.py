"""Kubeflow and Vertex SDK failures as one readable line, never showing a credential;
the SDKs' own prints, retry logs and warnings kept off the terminal."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from typing import TYPE_CHECKING

from components.common import runtime_env

if TYPE_CHECKING:
    from t2i.kubeflow.client import Connection


class KubeflowError(RuntimeError):
    """A failure worth one readable line (unreachable host, refused request, ...)."""


@contextlib.contextmanager
def api_errors(connection: Connection):
    """Turns the SDK's exceptions into one readable line, never showing a credential."""
    try:
        yield
    except KubeflowError:
        raise
    except Exception as e:
        message = scrub(_describe(e, connection.host), connection.secrets())
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
        return (
            f"Kubeflow Pipelines at {host} answered {error.status} {error.reason or ''}"
            f"{hint}: {_server_message(error.body)}"
        ).rstrip(": ")
    if isinstance(error, TimeoutError):
        return f"Kubeflow Pipelines at {host} did not answer: {error}"
    return f"Kubeflow Pipelines at {host}: {type(error).__name__}: {first_line(error)}"


def _server_message(body) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
        return str(data.get("message") or data.get("error") or "")[:300]
    except (ValueError, AttributeError):
        return str(body).strip().splitlines()[0][:300] if str(body).strip() else ""


def scrub(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def quiet():
    """Keeps the SDKs' prints ("Run details: ..."), retry warnings and FutureWarnings off
    the terminal; we print what matters ourselves. Nothing is hidden with --verbose."""
    if runtime_env.is_verbose():
        yield
        return
    loggers = [
        logging.getLogger(name)
        for name in ("urllib3", "urllib3.connectionpool", "kfp", "google.cloud.aiplatform", "absl")
    ]
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
