"""Reading ML Metadata: the local SQLite store or a remote MLMD gRPC service.

One module for every command that inspects runs (summary, runs, artifacts, lineage, diff),
so the same code serves `runs/metadata.sqlite` and Kubeflow's metadata service. Imports
only ml_metadata (~0.2 s), never TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from t2i.paths import DEFAULT_ROOT, Paths

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
EXECUTION_STATES = {value: name for name, value in metadata_store_pb2.Execution.State.items()}


class StoreError(LookupError):
    pass


def sqlite_connection_config(
    root: str, readonly: bool = False
) -> metadata_store_pb2.ConnectionConfig:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = Paths.of(root).metadata_file
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if readonly
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def _remote(host: str, port: int) -> metadata_store.MetadataStore:
    """The gRPC client, checked with one cheap call so an unreachable service is named
    here rather than failing later inside a query."""
    from ml_metadata import errors

    config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)
    try:
        store = metadata_store.MetadataStore(config)
        store.get_artifact_types()
    except errors.StatusError as e:
        raise StoreError(f"cannot reach the ML Metadata service at {host}:{port}: {e}") from None
    return store


def connect(
    root: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> metadata_store.MetadataStore:
    """The local store under `root` (read-only), or the gRPC service at host:port."""
    if host:
        return _remote(host, port or 8080)
    path = Paths.of(root or DEFAULT_ROOT).metadata_file
    if not os.path.exists(path):
        raise StoreError(f"{path}: no metadata store yet (run `t2i run` first, or pass --root)")
    return metadata_store.MetadataStore(
        sqlite_connection_config(root or DEFAULT_ROOT, readonly=True)
    )


@dataclass
class NodeExecution:
    node_id: str
    execution: metadata_store_pb2.Execution
    inputs: dict[str, list[metadata_store_pb2.Artifact]]
    outputs: dict[str, list[metadata_store_pb2.Artifact]]

    @property
    def state(self) -> str:
        return EXECUTION_STATES.get(self.execution.last_known_state, "UNKNOWN")

    @property
    def seconds(self) -> float:
        execution = self.execution
        return max(
            0.0,
            (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0,
        )


def run_context(store: metadata_store.MetadataStore, run_id: str) -> metadata_store_pb2.Context:
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        raise StoreError(f"no pipeline run {run_id!r} in the metadata store")
    return context


def run_executions(store: metadata_store.MetadataStore, run_id: str) -> list[NodeExecution]:
    """The run's executions in start order, each with its node id and in/out artifacts."""
    executions = store.get_executions_by_context(run_context(store, run_id).id)
    executions.sort(key=lambda e: (e.create_time_since_epoch, e.id))
    return [with_artifacts(store, execution) for execution in executions]


def with_artifacts(
    store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution
) -> NodeExecution:
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {
        a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))
    }
    inputs: dict[str, list] = {}
    outputs: dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "?"
        is_output = event.type in (
            metadata_store_pb2.Event.OUTPUT,
            metadata_store_pb2.Event.DECLARED_OUTPUT,
            metadata_store_pb2.Event.PENDING_OUTPUT,
        )
        if event.artifact_id in artifacts:
            (outputs if is_output else inputs).setdefault(key, []).append(
                artifacts[event.artifact_id]
            )
    return NodeExecution(node_id_of(store, execution), execution, inputs, outputs)


def node_id_of(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution) -> str:
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == NODE_CONTEXT or _context_type_name(store, context) == NODE_CONTEXT:
            return context.name.split(".", 1)[-1]
    return execution.type or str(execution.id)


def _context_type_name(
    store: metadata_store.MetadataStore, context: metadata_store_pb2.Context
) -> str:
    types = store.get_context_types_by_id([context.type_id])
    return types[0].name if types else ""


def pipeline_runs(
    store: metadata_store.MetadataStore,
    pipeline_name: str | None = None,
) -> list[metadata_store_pb2.Context]:
    """pipeline_run contexts, oldest first, optionally only those of one pipeline."""
    runs = store.get_contexts_by_type(RUN_CONTEXT)
    if pipeline_name:
        pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
        if pipeline is None:
            return []
        run_ids = {c.id for c in store.get_children_contexts_by_context(pipeline.id)}
        if run_ids:
            runs = [r for r in runs if r.id in run_ids]
        else:  # stores where runs are not linked as children: match through executions
            runs = [r for r in runs if _run_belongs_to(store, r, pipeline.id)]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def _run_belongs_to(
    store: metadata_store.MetadataStore, run: metadata_store_pb2.Context, pipeline_context_id: int
) -> bool:
    executions = store.get_executions_by_context(run.id)
    if not executions:
        return False
    contexts = store.get_contexts_by_execution(executions[0].id)
    return any(c.id == pipeline_context_id for c in contexts)


def property_value(value: metadata_store_pb2.Value):
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format

        return json_format.MessageToDict(value.struct_value)
    return getattr(value, kind) if kind else None


def custom_properties(node: metadata_store_pb2.Artifact | metadata_store_pb2.Execution) -> dict:
    """By key: a proto map's order differs between the local store and the gRPC client."""
    return {
        key: property_value(node.custom_properties[key]) for key in sorted(node.custom_properties)
    }
