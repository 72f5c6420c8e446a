"""Artifact lineage from ML Metadata (local SQLite or a remote MLMD service): which
artifacts a target names, and the graph around them.

`trace()` fetches the whole upstream (or downstream) graph of some artifacts in one
`get_lineage_subgraph` call; render.py turns it into text, JSON, DOT/PNG or HTML and
diff.py compares the provenance of two pushed searchers. TF-free and TFX-free.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from t2i import mlmd

PUSHED_MODEL_TYPE = "PushedModel"
SHORT_TYPE_NAMES = {
    "Searcher": "t2i.Searcher",
    "Embeddings": "t2i.Embeddings",
    "TextEncoder": "t2i.TextEncoder",
    "SearcherBlessing": "t2i.SearcherBlessing",
}
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_HIDDEN_PARAMETERS = {
    "code_version",
    "input_fingerprint",
    "custom_config",
    "input_config",
    "output_config",
    "range_config",
    "output_data_format",
    "output_file_format",
    "module_path",
    "module_file",
    "run_fn",
    "stats_options_json",
    "schema_file",
    "train_args",
    "eval_args",
}
UPSTREAM = metadata_store_pb2.LineageSubgraphQueryOptions.UPSTREAM
DOWNSTREAM = metadata_store_pb2.LineageSubgraphQueryOptions.DOWNSTREAM


class LineageError(LookupError):
    pass


@dataclass
class Lineage:
    roots: list[int]
    direction: str
    artifacts: dict[int, metadata_store_pb2.Artifact] = field(default_factory=dict)
    executions: dict[int, metadata_store_pb2.Execution] = field(default_factory=dict)
    events: list[metadata_store_pb2.Event] = field(default_factory=list)
    type_names: dict[int, str] = field(default_factory=dict)
    node_ids: dict[int, str] = field(default_factory=dict)  # execution id -> component id
    run_ids: dict[int, str] = field(default_factory=dict)  # execution id -> pipeline run id

    def producer(self, artifact_id: int) -> int | None:
        """The execution that made the artifact: the COMPLETE one, not later cache hits."""
        candidates = [
            e.execution_id
            for e in self.events
            if e.artifact_id == artifact_id
            and e.type in OUTPUT_EVENTS
            and e.execution_id in self.executions
        ]
        complete = [
            c
            for c in candidates
            if self.executions[c].last_known_state == metadata_store_pb2.Execution.COMPLETE
        ]
        chosen = complete or candidates
        return min(chosen) if chosen else None

    def inputs_of(self, execution_id: int) -> list[tuple[str, int]]:
        return sorted(
            (event_key(e), e.artifact_id)
            for e in self.events
            if e.execution_id == execution_id
            and e.type == metadata_store_pb2.Event.INPUT
            and e.artifact_id in self.artifacts
        )

    def consumers_of(self, artifact_id: int) -> list[tuple[str, int]]:
        return sorted(
            (event_key(e), e.execution_id)
            for e in self.events
            if e.artifact_id == artifact_id
            and e.type == metadata_store_pb2.Event.INPUT
            and e.execution_id in self.executions
        )

    def outputs_of(self, execution_id: int) -> list[tuple[str, int]]:
        return sorted(
            (event_key(e), e.artifact_id)
            for e in self.events
            if e.execution_id == execution_id
            and e.type in OUTPUT_EVENTS
            and e.artifact_id in self.artifacts
        )

    def type_of(self, artifact_id: int) -> str:
        return self.type_names.get(self.artifacts[artifact_id].type_id, "?")


def event_key(event: metadata_store_pb2.Event) -> str:
    return event.path.steps[0].key if event.path.steps else "?"


# ----------------------------------------------------------------------------- targets


def resolve_target(store, target: str) -> list[int]:
    """Artifact ids for `target`: an artifact id (42), a serving version (v3 or version:3),
    `latest` (the newest pushed version) or a pipeline run id (its pushed searcher, else
    everything the run produced)."""
    target = target.strip()
    if target.isdigit():
        artifacts = store.get_artifacts_by_id([int(target)])
        if not artifacts:
            raise LineageError(f"no artifact with id {target} in the metadata store")
        return [artifacts[0].id]
    if target == "latest" or target.lower().startswith(("v", "version:")):
        return [pushed_artifact(store, target).id]
    try:
        executions = mlmd.run_executions(store, target)
    except mlmd.StoreError:
        raise LineageError(
            f"{target!r} is not an artifact id, a version (v3, latest) or a pipeline run id "
            f"(see `t2i runs`)"
        ) from None
    pushed = [
        a.id
        for n in executions
        for a in n.outputs.get("pushed_model", [])
        if mlmd.custom_properties(a).get("pushed") == 1
    ]
    if pushed:
        return pushed
    outputs = sorted({a.id for n in executions for arts in n.outputs.values() for a in arts})
    if not outputs:
        raise LineageError(f"pipeline run {target!r} produced no artifacts")
    return outputs


def pushed_versions(store) -> dict[int, metadata_store_pb2.Artifact]:
    """version number -> the PushedModel artifact that recorded it."""
    versions: dict[int, metadata_store_pb2.Artifact] = {}
    for artifact in store.get_artifacts_by_type(PUSHED_MODEL_TYPE):
        props = mlmd.custom_properties(artifact)
        if props.get("pushed") == 1 and isinstance(props.get("version"), int):
            versions.setdefault(props["version"], artifact)
    return versions


def pushed_artifact(store, which: str) -> metadata_store_pb2.Artifact:
    versions = pushed_versions(store)
    if not versions:
        raise LineageError("no searcher has been pushed yet")
    if which == "latest":
        return versions[max(versions)]
    number = which.lower().removeprefix("version:").removeprefix("v")
    if not number.isdigit() or int(number) not in versions:
        known = ", ".join(f"v{v}" for v in sorted(versions))
        raise LineageError(f"no pushed version {which!r} (pushed: {known})")
    return versions[int(number)]


# ----------------------------------------------------------------------------- tracing


def trace(store, artifact_ids: list[int], downstream: bool = False, max_hops: int = 60) -> Lineage:
    options = metadata_store_pb2.LineageSubgraphQueryOptions(
        starting_artifacts=metadata_store_pb2.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id IN ({', '.join(str(i) for i in artifact_ids)})"
        ),
        max_num_hops=max_hops,
        direction=DOWNSTREAM if downstream else UPSTREAM,
    )
    graph = store.get_lineage_subgraph(options, ["artifacts", "executions", "events"])
    lineage = Lineage(
        roots=list(artifact_ids), direction="downstream" if downstream else "upstream"
    )
    lineage.artifacts = {a.id: a for a in graph.artifacts}
    lineage.executions = {e.id: e for e in graph.executions}
    lineage.events = list(graph.events)
    type_ids = sorted({a.type_id for a in graph.artifacts})
    lineage.type_names = {t.id: t.name for t in store.get_artifact_types_by_id(type_ids)}
    _attach_contexts(store, lineage)
    return lineage


def _attach_contexts(store, lineage: Lineage) -> None:
    context_types = {t.name: t.id for t in store.get_context_types()}
    node_type, run_type = context_types.get(mlmd.NODE_CONTEXT), context_types.get(mlmd.RUN_CONTEXT)
    for execution_id in lineage.executions:
        for context in store.get_contexts_by_execution(execution_id):
            if context.type_id == node_type:
                lineage.node_ids[execution_id] = context.name.split(".", 1)[-1]
            elif context.type_id == run_type:
                lineage.run_ids[execution_id] = context.name


def execution_parameters(execution: metadata_store_pb2.Execution) -> dict:
    """The execution's parameters as TFX recorded them, minus bookkeeping and long blobs."""
    shown = {}
    for source in (execution.properties, execution.custom_properties):
        for key, value in source.items():
            if key in _HIDDEN_PARAMETERS or key.startswith("__"):
                continue
            parsed = mlmd.property_value(value)
            if isinstance(parsed, str) and len(parsed) > 80:
                continue
            shown[key] = parsed
    return dict(sorted(shown.items()))


def trainer_config(execution: metadata_store_pb2.Execution) -> dict:
    """The Trainer's custom_config (its hyper-parameters), when recorded."""
    raw = execution.custom_properties.get("custom_config") or execution.properties.get(
        "custom_config"
    )
    if raw is None:
        return {}
    try:
        value = json.loads(mlmd.property_value(raw))
    except (TypeError, ValueError):
        return {}
    return (
        {k: v for k, v in value.items() if k != "code_version"} if isinstance(value, dict) else {}
    )


def format_millis(millis: int) -> str:
    return (
        datetime.datetime.fromtimestamp(millis / 1000).strftime("%Y-%m-%d %H:%M:%S")
        if millis
        else "?"
    )
