"""Artifact lineage and run history from ML Metadata (local SQLite or a remote MLMD service).

`trace()` fetches the whole upstream (or downstream) graph of some artifacts in one
`get_lineage_subgraph` call; the renderers turn it into text, JSON, DOT/PNG or HTML, and
`diff_versions()` compares the provenance of two pushed searchers. TF-free and TFX-free.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata_store
from pipeline.summary import artifact_figures, pushed_version

PUSHED_MODEL_TYPE = "PushedModel"
SHORT_TYPE_NAMES = {"Searcher": "t2i.Searcher", "Embeddings": "t2i.Embeddings",
                    "TextEncoder": "t2i.TextEncoder", "SearcherBlessing": "t2i.SearcherBlessing"}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_HIDDEN_PARAMETERS = {"code_version", "input_fingerprint", "custom_config", "input_config",
                      "output_config", "range_config", "output_data_format",
                      "output_file_format", "module_path", "module_file", "run_fn",
                      "stats_options_json", "schema_file", "train_args", "eval_args"}
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
        candidates = [e.execution_id for e in self.events
                      if e.artifact_id == artifact_id and e.type in _OUTPUT_EVENTS
                      and e.execution_id in self.executions]
        complete = [c for c in candidates if self.executions[c].last_known_state
                    == metadata_store_pb2.Execution.COMPLETE]
        chosen = complete or candidates
        return min(chosen) if chosen else None

    def inputs_of(self, execution_id: int) -> list[tuple[str, int]]:
        return sorted((_event_key(e), e.artifact_id) for e in self.events
                      if e.execution_id == execution_id and e.type == metadata_store_pb2.Event.INPUT
                      and e.artifact_id in self.artifacts)

    def consumers_of(self, artifact_id: int) -> list[tuple[str, int]]:
        return sorted((_event_key(e), e.execution_id) for e in self.events
                      if e.artifact_id == artifact_id and e.type == metadata_store_pb2.Event.INPUT
                      and e.execution_id in self.executions)

    def outputs_of(self, execution_id: int) -> list[tuple[str, int]]:
        return sorted((_event_key(e), e.artifact_id) for e in self.events
                      if e.execution_id == execution_id and e.type in _OUTPUT_EVENTS
                      and e.artifact_id in self.artifacts)

    def type_of(self, artifact_id: int) -> str:
        return self.type_names.get(self.artifacts[artifact_id].type_id, "?")


def _event_key(event: metadata_store_pb2.Event) -> str:
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
        executions = metadata_store.run_executions(store, target)
    except metadata_store.StoreError:
        raise LineageError(
            f"{target!r} is not an artifact id, a version (v3, latest) or a pipeline run id "
            f"(see `t2i runs`)") from None
    pushed = [a.id for n in executions for a in n.outputs.get("pushed_model", [])
              if metadata_store.custom_properties(a).get("pushed") == 1]
    if pushed:
        return pushed
    outputs = sorted({a.id for n in executions for arts in n.outputs.values() for a in arts})
    if not outputs:
        raise LineageError(f"pipeline run {target!r} produced no artifacts")
    return outputs


def pushed_versions(store) -> dict[int, metadata_store_pb2.Artifact]:
    """version number -> the PushedModel artifact that recorded it."""
    versions = {}
    for artifact in store.get_artifacts_by_type(PUSHED_MODEL_TYPE):
        props = metadata_store.custom_properties(artifact)
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
            filter_query=f"id IN ({', '.join(str(i) for i in artifact_ids)})"),
        max_num_hops=max_hops,
        direction=DOWNSTREAM if downstream else UPSTREAM,
    )
    graph = store.get_lineage_subgraph(options, ["artifacts", "executions", "events"])
    lineage = Lineage(roots=list(artifact_ids), direction="downstream" if downstream else "upstream")
    lineage.artifacts = {a.id: a for a in graph.artifacts}
    lineage.executions = {e.id: e for e in graph.executions}
    lineage.events = list(graph.events)
    type_ids = sorted({a.type_id for a in graph.artifacts})
    lineage.type_names = {t.id: t.name for t in store.get_artifact_types_by_id(type_ids)}
    _attach_contexts(store, lineage)
    return lineage


def _attach_contexts(store, lineage: Lineage) -> None:
    context_types = {t.name: t.id for t in store.get_context_types()}
    node_type, run_type = context_types.get(metadata_store.NODE_CONTEXT), context_types.get(metadata_store.RUN_CONTEXT)
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
            parsed = metadata_store.property_value(value)
            if isinstance(parsed, str) and len(parsed) > 80:
                continue
            shown[key] = parsed
    return dict(sorted(shown.items()))


def trainer_config(execution: metadata_store_pb2.Execution) -> dict:
    """The Trainer's custom_config (its hyper-parameters), when recorded."""
    raw = execution.custom_properties.get("custom_config") or execution.properties.get("custom_config")
    if raw is None:
        return {}
    try:
        value = json.loads(metadata_store.property_value(raw))
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in value.items() if k != "code_version"} if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------- text / json

def to_text(lineage: Lineage) -> str:
    lines: list[str] = []
    seen_artifacts: set[int] = set()
    for root in lineage.roots:
        if root in lineage.artifacts:
            _text_artifact(lineage, root, "", "", lines, seen_artifacts)
    return "\n".join(lines)


def _artifact_line(lineage: Lineage, artifact_id: int) -> str:
    artifact = lineage.artifacts[artifact_id]
    figures = ", ".join(f"{k}={v}" for k, v in artifact_figures(artifact).items())
    created = _time(artifact.create_time_since_epoch)
    return (f"{lineage.type_of(artifact_id)} #{artifact_id} ({created})"
            + (f"  {figures}" if figures else "") + f"\n{{pad}}  {artifact.uri}")


def _execution_line(lineage: Lineage, execution_id: int) -> str:
    execution = lineage.executions[execution_id]
    state = metadata_store.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
    node = lineage.node_ids.get(execution_id, execution.type or "?")
    run = lineage.run_ids.get(execution_id, "?")
    params = ", ".join(f"{k}={v}" for k, v in execution_parameters(execution).items())
    config = trainer_config(execution)
    if config:
        params = ", ".join(filter(None, [params, ", ".join(f"{k}={v}" for k, v in config.items())]))
    return f"{node} execution #{execution_id} [{state}, run {run}]" + (f"  {params}" if params else "")


def _text_artifact(lineage, artifact_id, prefix, child_prefix, lines, seen) -> None:
    text = _artifact_line(lineage, artifact_id)
    head, uri = text.split("\n", 1)
    lines.append(prefix + head)
    lines.append(uri.replace("{pad}", child_prefix))
    if artifact_id in seen:
        lines[-2] += "  (shown above)"
        return
    seen.add(artifact_id)
    if lineage.direction == "upstream":
        producer = lineage.producer(artifact_id)
        if producer is None:
            return
        lines.append(f"{child_prefix}└─ made by {_execution_line(lineage, producer)}")
        _text_children(lineage, lineage.inputs_of(producer), child_prefix + "   ", lines, seen)
    else:
        consumers = lineage.consumers_of(artifact_id)
        for index, (key, execution_id) in enumerate(consumers):
            last = index == len(consumers) - 1
            lines.append(f"{child_prefix}{'└─' if last else '├─'} {key} of {_execution_line(lineage, execution_id)}")
            _text_children(lineage, lineage.outputs_of(execution_id),
                           child_prefix + ("   " if last else "│  "), lines, seen)


def _text_children(lineage, keyed_artifacts, prefix, lines, seen) -> None:
    for index, (key, child) in enumerate(keyed_artifacts):
        last = index == len(keyed_artifacts) - 1
        _text_artifact(lineage, child, f"{prefix}{'└─' if last else '├─'} {key}: ",
                       prefix + ("   " if last else "│  "), lines, seen)


def to_json(lineage: Lineage) -> dict:
    return {
        "roots": lineage.roots,
        "direction": lineage.direction,
        "artifacts": [{
            "id": a.id, "type": lineage.type_of(a.id), "uri": a.uri,
            "created": _time(a.create_time_since_epoch),
            "properties": metadata_store.custom_properties(a),
            "produced_by": lineage.producer(a.id),
        } for a in sorted(lineage.artifacts.values(), key=lambda a: a.id)],
        "executions": [{
            "id": e.id, "component": lineage.node_ids.get(e.id, e.type),
            "run": lineage.run_ids.get(e.id),
            "state": metadata_store.EXECUTION_STATES.get(e.last_known_state, "?"),
            "parameters": execution_parameters(e),
            "trainer_config": trainer_config(e) or None,
            "inputs": [{"key": k, "artifact": a} for k, a in lineage.inputs_of(e.id)],
            "outputs": [{"key": k, "artifact": a} for k, a in lineage.outputs_of(e.id)],
        } for e in sorted(lineage.executions.values(), key=lambda e: e.id)],
    }


def _time(millis: int) -> str:
    return datetime.datetime.fromtimestamp(millis / 1000).strftime("%Y-%m-%d %H:%M:%S") if millis else "?"


# ----------------------------------------------------------------------------- pictures

def to_dot(lineage: Lineage):
    import pydot

    graph = pydot.Dot("lineage", graph_type="digraph", rankdir="LR", fontname="Helvetica")
    graph.set_node_defaults(fontname="Helvetica", fontsize="10")
    for artifact_id, artifact in lineage.artifacts.items():
        figures = "\\n".join(f"{k}={v}" for k, v in list(artifact_figures(artifact).items())[:4])
        label = f"{lineage.type_of(artifact_id)} #{artifact_id}" + (f"\\n{figures}" if figures else "")
        colour = "#ffe082" if artifact_id in lineage.roots else "#e3f2fd"
        graph.add_node(pydot.Node(f"a{artifact_id}", label=f'"{label}"', shape="note",
                                  style="filled", fillcolor=colour))
    for execution_id in _drawn_executions(lineage):
        execution = lineage.executions[execution_id]
        node = lineage.node_ids.get(execution_id, execution.type)
        state = metadata_store.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
        run = lineage.run_ids.get(execution_id, "")
        graph.add_node(pydot.Node(f"e{execution_id}", label=f'"{node}\\n#{execution_id} {state}\\n{run}"',
                                  shape="box", style='"rounded,filled"', fillcolor="#c8e6c9"))
    drawn = _drawn_executions(lineage)
    for event in lineage.events:
        if event.artifact_id not in lineage.artifacts or event.execution_id not in drawn:
            continue
        if event.type == metadata_store_pb2.Event.INPUT:
            edge = pydot.Edge(f"a{event.artifact_id}", f"e{event.execution_id}")
        elif event.type in _OUTPUT_EVENTS and lineage.producer(event.artifact_id) == event.execution_id:
            edge = pydot.Edge(f"e{event.execution_id}", f"a{event.artifact_id}")
        else:
            continue
        edge.set_label(f'"{_event_key(event)}"')
        edge.set_fontsize("8")
        graph.add_edge(edge)
    return graph


def _drawn_executions(lineage: Lineage) -> set[int]:
    """Upstream: each artifact's producer (cache hits that re-recorded it are left out);
    downstream: every execution that consumed something in the graph."""
    if lineage.direction == "upstream":
        return {p for p in map(lineage.producer, lineage.artifacts) if p is not None}
    return {e for a in lineage.artifacts for _, e in lineage.consumers_of(a)}


def to_html(lineage: Lineage) -> str:
    import html

    from pipeline.graphs import render

    svg = render(to_dot(lineage), "svg").decode("utf-8")
    text = html.escape(to_text(lineage))
    roots = ", ".join(f"#{r}" for r in lineage.roots)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lineage {roots}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em} svg{max-width:100%;height:auto}"
            "pre{font-size:12px;background:#f7f7f7;padding:1em}</style></head><body>"
            f"<h1>{lineage.direction.capitalize()} lineage of {roots}</h1>{svg}<pre>{text}</pre></body></html>")


# ----------------------------------------------------------------------------- diff

@dataclass
class VersionDiff:
    version_a: int
    version_b: int
    rows: list[tuple[str, str, str, str]]  # (what, key, value in A, value in B)
    unchanged: list[str]


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
    version = lambda artifact: metadata_store.custom_properties(artifact)["version"]  # noqa: E731
    return VersionDiff(version(pushed_a), version(pushed_b), rows, unchanged)


def _provenance_facts(store, pushed: metadata_store_pb2.Artifact) -> dict[str, dict]:
    """Per component: its parameters, and per output type: artifact ids and figures."""
    lineage = trace(store, [pushed.id])
    facts: dict[str, dict] = {}
    spans = sorted({metadata_store.custom_properties(a).get("span")
                    for a in lineage.artifacts.values() if lineage.type_of(a.id) == "Examples"}
                   - {None})
    facts["data"] = {"spans": ",".join(str(s) for s in spans)}
    for artifact_id, artifact in lineage.artifacts.items():
        type_name = lineage.type_of(artifact_id)
        if type_name in ("Examples", "ExampleStatistics", "ExampleAnomalies", "Schema", PUSHED_MODEL_TYPE):
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


# ----------------------------------------------------------------------------- history

def run_rows(store, pipeline_name: str | None = None) -> list[dict]:
    """One row per pipeline run: id, start, state, duration, components, pushed version."""
    rows = []
    for context in metadata_store.pipeline_runs(store, pipeline_name):
        executions = [metadata_store.with_artifacts(store, e)
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
            "run": context.name, "started": _time(start), "state": state,
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
        "id": a.id, "type": names.get(a.type_id, "?"), "created": _time(a.create_time_since_epoch),
        "figures": artifact_figures(a), "uri": a.uri,
    } for a in sorted(artifacts, key=lambda a: a.id)]


def _has_type(store, name: str) -> bool:
    return any(t.name == name for t in store.get_artifact_types())
