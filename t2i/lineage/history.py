"""Run history and artifact listings from ML Metadata (`t2i runs`, `t2i artifacts`)."""
from __future__ import annotations

from t2i import mlmd
from t2i.lineage.graph import SHORT_TYPE_NAMES, LineageError, format_millis
from t2i.summary import artifact_figures, pushed_version


def run_rows(store, pipeline_name: str | None = None) -> list[dict]:
    """One row per pipeline run: id, start, state, duration, components, pushed version."""
    rows = []
    for context in mlmd.pipeline_runs(store, pipeline_name):
        executions = [mlmd.with_artifacts(store, e)
                      for e in store.get_executions_by_context(context.id)]
        states = {n.state for n in executions}
        if "FAILED" in states:
            state = "failed"
        elif states & {"RUNNING", "NEW"}:
            state = "running"
        else:
            state = "complete"
        start = min((n.execution.create_time_since_epoch for n in executions), default=0)
        end = max((n.execution.last_update_time_since_epoch for n in executions), default=0)
        pushed = pushed_version(executions)
        rows.append({
            "run": context.name, "started": format_millis(start), "state": state,
            "seconds": round((end - start) / 1000, 1) if executions else 0.0,
            "components": len(executions),
            "cached": sum(1 for n in executions if n.state == "CACHED"),
            "pushed_version": pushed[0] if pushed else None,
        })
    return rows


def artifact_rows(store, type_name: str | None = None) -> list[dict]:
    if type_name:
        full = SHORT_TYPE_NAMES.get(type_name, type_name)
        if not _has_type(store, full):
            known = sorted(t.name for t in store.get_artifact_types())
            raise LineageError(f"unknown artifact type {type_name!r} (known: {', '.join(known)})")
        artifacts = store.get_artifacts_by_type(full)
    else:
        artifacts = store.get_artifacts()
    names = {t.id: t.name for t in store.get_artifact_types()}
    return [{
        "id": a.id, "type": names.get(a.type_id, "?"), "created": format_millis(a.create_time_since_epoch),
        "figures": artifact_figures(a), "uri": a.uri,
    } for a in sorted(artifacts, key=lambda a: a.id)]


def _has_type(store, name: str) -> bool:
    return any(t.name == name for t in store.get_artifact_types())
