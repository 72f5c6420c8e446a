"""What differs between the provenance of two pushed searchers (`t2i diff`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from t2i import mlmd
from t2i.lineage.graph import (
    PUSHED_MODEL_TYPE,
    LineageError,
    execution_parameters,
    pushed_artifact,
    trace,
    trainer_config,
)
from t2i.summary import artifact_figures, pushed_version


@dataclass
class VersionDiff:
    version_a: int
    version_b: int
    rows: list[tuple[str, str, str, str]]  # (what, key, value in A, value in B)
    unchanged: list[str]


def version_spec(store, text: str) -> str:
    """A version as `t2i diff` and the web app take it: 3, v3, latest, or a pipeline run id
    (the version that run pushed, or served when its pusher was cached)."""
    text = text.strip()
    if text.isdigit():
        return f"v{text}"
    if text == "latest" or re.fullmatch(r"(v|version:)\d+", text.lower()):
        return text
    try:
        executions = mlmd.run_executions(store, text)
    except mlmd.StoreError:
        raise LineageError(
            f"{text!r} is not a version (3, v3, latest) or a pipeline run id (see `t2i runs`)"
        ) from None
    pushed = pushed_version(executions)
    if not pushed:
        raise LineageError(f"pipeline run {text!r} pushed no searcher version")
    return f"v{pushed[0]}"


def to_json(diff: VersionDiff) -> dict:
    return {
        "version_a": diff.version_a,
        "version_b": diff.version_b,
        "changed": [{"section": s, "key": k, "a": a, "b": b} for s, k, a, b in diff.rows],
        "unchanged": diff.unchanged,
    }


def diff_versions(store, a: str, b: str) -> VersionDiff:
    """What differs between the provenance of two pushed searchers."""
    pushed_a, pushed_b = pushed_artifact(store, a), pushed_artifact(store, b)
    facts_a = _provenance_facts(store, pushed_a)
    facts_b = _provenance_facts(store, pushed_b)
    rows, unchanged = [], []
    for section in sorted(set(facts_a) | set(facts_b)):
        values_a, values_b = facts_a.get(section, {}), facts_b.get(section, {})
        same = True
        for key in sorted(set(values_a) | set(values_b)):
            va, vb = values_a.get(key, "—"), values_b.get(key, "—")
            if va != vb:
                rows.append((section, key, _short(va), _short(vb)))
                same = False
        if same:
            unchanged.append(section)
    return VersionDiff(_version(pushed_a), _version(pushed_b), rows, unchanged)


def _version(pushed: metadata_store_pb2.Artifact) -> int:
    return mlmd.custom_properties(pushed)["version"]


def _provenance_facts(store, pushed: metadata_store_pb2.Artifact) -> dict[str, dict]:
    """Per component: its parameters, and per output type: artifact ids and figures."""
    lineage = trace(store, [pushed.id])
    facts: dict[str, dict] = {}
    spans = sorted(
        {
            span
            for a in lineage.artifacts.values()
            if lineage.type_of(a.id) == "Examples"
            and (span := mlmd.custom_properties(a).get("span")) is not None
        }
    )
    facts["data"] = {"spans": ",".join(str(s) for s in spans)}
    for artifact_id, artifact in lineage.artifacts.items():
        type_name = lineage.type_of(artifact_id)
        if type_name in (
            "Examples",
            "ExampleStatistics",
            "ExampleAnomalies",
            "Schema",
            PUSHED_MODEL_TYPE,
        ):
            continue
        section = facts.setdefault(type_name, {})
        ids = sorted(filter(None, [section.get("artifact ids", ""), f"#{artifact_id}"]))
        section["artifact ids"] = ", ".join(ids)
        if type_name in ("Model", "t2i.TextEncoder"):
            continue  # same id = same model; its figures live on the evaluation
        for key, value in artifact_figures(artifact).items():
            section[key] = value
    for execution_id, execution in lineage.executions.items():
        node = lineage.node_ids.get(execution_id, execution.type)
        params = {**execution_parameters(execution), **trainer_config(execution)}
        if params:
            facts.setdefault(f"{node} parameters", {}).update(params)
    return facts


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_diff(diff: VersionDiff) -> str:
    lines = [f"v{diff.version_a} -> v{diff.version_b}"]
    if not diff.rows:
        lines.append("  no differences in data, model, parameters or figures")
    width = max([len(f"{s}.{k}") for s, k, _, _ in diff.rows] + [10])
    for section, key, a, b in diff.rows:
        lines.append(f"  {section + '.' + key:<{width}}  {a}  ->  {b}")
    if diff.unchanged:
        lines.append("unchanged: " + ", ".join(diff.unchanged))
    return "\n".join(lines)
