"""Vertex AI Pipelines: an aiplatform.PipelineJob from the compiled .json, and sending it."""

from __future__ import annotations

from typing import Optional

from t2i.kubeflow.compiler import CompiledPipeline
from t2i.kubeflow.errors import KubeflowError, first_line, quiet


def vertex_job(
    compiled: CompiledPipeline,
    project: str,
    region: str,
    enable_caching: Optional[bool] = None,
    credentials=None,
    labels=None,
):
    """An aiplatform.PipelineJob from the compiled .json; nothing is sent until
    .submit(). `credentials` None = Application Default Credentials."""
    with quiet():
        from google.cloud import aiplatform

        try:
            return aiplatform.PipelineJob(
                display_name=f"{compiled.name}-{compiled.kind}",
                template_path=compiled.json_path,
                pipeline_root=compiled.pipeline_root,
                enable_caching=enable_caching,
                project=project,
                location=region,
                credentials=credentials,
                labels=labels,
            )
        except Exception as e:  # google.auth's DefaultCredentialsError and friends
            raise KubeflowError(f"cannot prepare the Vertex AI job: {first_line(e)}") from None


def submit_vertex(job, service_account: Optional[str] = None) -> str:
    """Sends the job; returns its console link."""
    try:
        with quiet():
            job.submit(service_account=service_account)
    except Exception as e:
        raise KubeflowError(f"Vertex AI refused the job: {first_line(e)}") from None
    return job._dashboard_uri()
