"""Run history and artifact listings from ML Metadata (`t2i runs`, `t2i artifacts`)."""

from __future__ import annotations

from t2i import mlmd
from t2i.lineage.graph import SHORT_TYPE_NAMES, LineageError, format_millis
from t2i.summary import NOTHING_PUSHED_PROPERTY, artifact_figures, pushed_version, run_seconds


def run_rows(store, pipeline_name: str | None = None) -> list[dict]:
    """One row per pipeline run: id, start, state, duration, components, pushed version.
    Consecutive scheduled ticks that pushed nothing new are one row, the latest of them,
    with `idle_ticks` counting them (0 on every other row)."""
    rows: list[dict] = []
    for context in mlmd.pipeline_runs(store, pipeline_name):
        idle = context.custom_properties.get(NOTHING_PUSHED_PROPERTY)
        idle = idle is not None and idle.int_value == 1
        executions = [
            mlmd.with_artifacts(store, e) for e in store.get_executions_by_context(context.id)
        ]
        states = {n.state for n in executions}
        if "FAILED" in states:
            state = "failed"
        elif states & {"RUNNING", "NEW"}:
            state = "running"
        else:
            state = "complete"
        start = min((n.execution.create_time_since_epoch for n in executions), default=0)
        pushed = pushed_version(executions)
        rows.append(
            {
                "run": context.name,
                "started": format_millis(start),
                "state": state,
                "seconds": run_seconds(store, context.name, executions),
                "components": len(executions),
                "cached": sum(1 for n in executions if n.state == "CACHED"),
                "pushed_version": pushed[0] if pushed else None,
                "idle_ticks": 1 if idle else 0,
            }
        )
        if idle and len(rows) > 1 and rows[-2]["idle_ticks"]:
            rows[-1]["idle_ticks"] += rows.pop(-2)["idle_ticks"]
    return rows


def artifact_rows(store, type_name: str | None = None) -> list[dict]:
    if type_name:
        known = sorted(t.name for t in store.get_artifact_types())
        full = _type_named(type_name, known)
        if full is None:
            raise LineageError(f"unknown artifact type {type_name!r} (known: {', '.join(known)})")
        artifacts = store.get_artifacts_by_type(full)
    else:
        artifacts = store.get_artifacts()
    names = {t.id: t.name for t in store.get_artifact_types()}
    return [
        {
            "id": a.id,
            "type": names.get(a.type_id, "?"),
            "created": format_millis(a.create_time_since_epoch),
            "figures": artifact_figures(a),
            "uri": a.uri,
        }
        for a in sorted(artifacts, key=lambda a: a.id)
    ]


def _type_named(name: str, known: list[str]) -> str | None:
    """The recorded type `name` means, in any case: a full name (t2i.Searcher, Examples)
    or a short one (searcher)."""
    by_lower = {k.lower(): k for k in known}
    short = {k.lower(): v for k, v in SHORT_TYPE_NAMES.items()}
    wanted = name.strip().lower()
    return by_lower.get(wanted) or by_lower.get(short.get(wanted, "").lower())
