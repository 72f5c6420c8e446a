"""What a finished run produced, read back from ML Metadata, for the terminal and reports."""
from __future__ import annotations

from pipeline import metadata_store

# TFX's bookkeeping properties; everything else on an artifact is one of our figures.
_INTERNAL = {"tfx_version", "state", "is_external", "name", "producer_component",
             "current_model", "baseline_model", "split_names", "file_format", "payload_format",
             "custom_config", "code_version", "input_fingerprint", "stats_dashboard_link"}
_MAX_FIGURES = 10


def artifact_figures(artifact) -> dict:
    """Scalar custom properties worth showing (counts, recall, sizes, versions)."""
    figures = {}
    for key, value in sorted(metadata_store.custom_properties(artifact).items()):
        if key in _INTERNAL or key.startswith("__"):
            continue
        if isinstance(value, float):
            figures[key] = round(value, 4)
        elif isinstance(value, int) or (isinstance(value, str) and len(value) <= 60):
            figures[key] = value
        if len(figures) >= _MAX_FIGURES:
            break
    return figures


def run_overview(store, run_id: str, executions=None) -> str:
    executions = executions if executions is not None else metadata_store.run_executions(store, run_id)
    counts: dict[str, int] = {}
    for node in executions:
        counts[node.state.lower()] = counts.get(node.state.lower(), 0) + 1
    if executions:
        start = min(n.execution.create_time_since_epoch for n in executions)
        end = max(n.execution.last_update_time_since_epoch for n in executions)
        span = f" over {(end - start) / 1000:.1f} s"
    else:
        span = ""
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return f"run {run_id}: {len(executions)} executions{span} ({states or 'none'})"


def pushed_version(executions) -> tuple[int, str] | None:
    for node in executions:
        for artifact in node.outputs.get("pushed_model", []):
            props = metadata_store.custom_properties(artifact)
            if props.get("pushed") == 1:
                return props.get("version"), props.get("pushed_destination", "")
    return None


def format_artifacts(executions) -> list[str]:
    lines = []
    for node in executions:
        for key, artifacts in node.outputs.items():
            for artifact in artifacts:
                figures = artifact_figures(artifact)
                shown = ", ".join(f"{k}={v}" for k, v in figures.items())
                lines.append(f"  {node.node_id}.{key} #{artifact.id}  {artifact.uri}")
                if shown:
                    lines.append(f"      {shown}")
    return lines
