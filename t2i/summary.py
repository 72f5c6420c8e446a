"""What a finished run produced, read back from ML Metadata, for the terminal and reports."""

from __future__ import annotations

from typing import Any

from t2i import mlmd

# TFX's bookkeeping properties; everything else on an artifact is one of our figures.
_INTERNAL = {
    "tfx_version",
    "state",
    "is_external",
    "name",
    "producer_component",
    "current_model",
    "baseline_model",
    "split_names",
    "file_format",
    "payload_format",
    "custom_config",
    "code_version",
    "input_fingerprint",
    "stats_dashboard_link",
}
_MAX_FIGURES = 10


# Shown first when present: the figures a person looks for on each artifact type.
_KEY_FIGURES = (
    "version",
    "pushed",
    "blessed",
    "span",
    "spans_ingested",
    "images_ingested",
    "images_skipped",
    "images_index_only",
    "unlisted_files",
    "captions_kept",
    "split_train_count",
    "split_eval_count",
    "split_index_count",
    "text_to_image_recall_at_1",
    "text_to_image_recall_at_10",
    "text_to_image_median_rank",
    "count",
    "dim",
    "embedded_new",
    "dead_letters",
    "execution_mode",
    "images_per_second",
    "num_items",
    "num_leaves",
    "leaves_to_search",
    "lookup",
    "bytes_per_item",
    "index_bytes",
    "recall_at_10",
    "p50_ms",
    "p95_ms",
    "text_min_cosine",
    "text_encoder_bytes",
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
    ordered = [k for k in _KEY_FIGURES if k in candidates] + sorted(
        k for k in candidates if k not in _KEY_FIGURES
    )
    return {k: candidates[k] for k in ordered[:limit]}


RUN_SECONDS_PROPERTY = "t2i_run_seconds"  # on the pipeline_run context (local_runner)
NOTHING_PUSHED_PROPERTY = "t2i_tick_pushed_nothing"  # a scheduled tick with nothing new


def run_seconds(store, run_id: str, executions=None) -> float:
    """The run's one duration, the same in the terminal, `t2i runs` and the report: the
    pipeline's own wall time as the runner recorded it (TFX import and start-up excluded);
    for runs recorded without it, first execution start to last execution update."""
    context = mlmd.run_context(store, run_id)
    recorded = context.custom_properties.get(RUN_SECONDS_PROPERTY)
    if recorded is not None and recorded.HasField("double_value"):
        return round(recorded.double_value, 1)
    executions = executions if executions is not None else mlmd.run_executions(store, run_id)
    if not executions:
        return 0.0
    start = min(n.execution.create_time_since_epoch for n in executions)
    end = max(n.execution.last_update_time_since_epoch for n in executions)
    return round((end - start) / 1000, 1)


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


def pushed_new_version(executions) -> bool:
    """Whether the run published a version itself (a cached pusher only re-records one)."""
    return any(
        node.state == "COMPLETE"
        and any(
            mlmd.custom_properties(a).get("pushed") == 1
            for a in node.outputs.get("pushed_model", [])
        )
        for node in executions
    )


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
                # The folder only: its number is TFX's execution id, which differs from
                # the artifact id; two numbers side by side read as a mismatch.
                lines.append(f"  {node.node_id}.{key}  {artifact.uri}")
                if shown:
                    lines.append(f"      {shown}")
    return lines


def index_growth(executions) -> list[str]:
    """The index size line of a run ("index 2,000 -> 2,500 items ...") and, for a rebuild
    whose new spans added no image, a warning: new images must never vanish silently."""
    for node in executions:
        if not node.node_id.startswith("ImageEmbedder"):
            continue  # not the resolver that hands over the previous embeddings
        for artifact in node.outputs.get("embeddings", []):
            props = mlmd.custom_properties(artifact)
            if "count" not in props:
                continue
            count, new = props["count"], props.get("embedded_new", 0)
            if node.state == "CACHED":
                return [f"index unchanged: {count:,} items (no new images to embed)"]
            if not props.get("incremental"):
                return [f"index: {count:,} items"]
            lines = [
                f"index {count - new:,} -> {count:,} items ({new:,} new, "
                f"{props.get('reused', 0):,} already indexed)"
            ]
            if new == 0:
                lines.append(
                    "warning: the new span added no image to the index: every image "
                    "in it is already indexed (give new images new ids; "
                    "`t2i sample-data --add-span` makes a valid next span)"
                )
            return lines
    return []
