"""What a finished run produced, read back from ML Metadata, for the terminal and reports."""
from __future__ import annotations

from typing import Any

from t2i import mlmd

# TFX's bookkeeping properties; everything else on an artifact is one of our figures.
_INTERNAL = {"tfx_version", "state", "is_external", "name", "producer_component",
             "current_model", "baseline_model", "split_names", "file_format", "payload_format",
             "custom_config", "code_version", "input_fingerprint", "stats_dashboard_link"}
_MAX_FIGURES = 10


# Shown first when present: the figures a person looks for on each artifact type.
_KEY_FIGURES = (
    "version", "pushed", "blessed", "span", "spans_ingested", "images_ingested", "images_skipped",
    "captions_kept", "split_train_count", "split_eval_count", "split_index_count",
    "text_to_image_recall_at_1", "text_to_image_recall_at_10", "text_to_image_median_rank",
    "count", "dim", "embedded_new", "dead_letters", "execution_mode", "images_per_second",
    "num_items", "num_leaves", "leaves_to_search", "lookup", "bytes_per_item", "index_bytes",
    "recall_at_10", "p50_ms", "p95_ms", "text_min_cosine", "text_encoder_bytes",
)


def artifact_figures(artifact, limit: int = _MAX_FIGURES) -> dict:
    """Scalar custom properties worth showing (counts, recall, sizes, versions): the key
    figures first, then others; zero counts of skipped items are left out."""
    candidates: dict[str, Any] = {}
    for key, value in mlmd.custom_properties(artifact).items():
        if key in _INTERNAL or key.startswith("__"):
            continue
        if "skipped" in key and value == 0:
            continue
        if isinstance(value, float):
            candidates[key] = round(value, 4)
        elif isinstance(value, int) or (isinstance(value, str) and 0 < len(value) <= 60):
            candidates[key] = value
    ordered = [k for k in _KEY_FIGURES if k in candidates] + sorted(k for k in candidates if k not in _KEY_FIGURES)
    return {k: candidates[k] for k in ordered[:limit]}


def run_overview(run_id: str, executions: list[mlmd.NodeExecution]) -> str:
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


def pushed_version(executions) -> tuple[int | None, str] | None:
    for node in executions:
        for artifact in node.outputs.get("pushed_model", []):
            props = mlmd.custom_properties(artifact)
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
