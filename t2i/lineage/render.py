"""A traced Lineage as text, JSON, a DOT graph (PNG/SVG through graphviz) or HTML."""
from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2

from t2i import mlmd
from t2i.lineage.graph import (
    OUTPUT_EVENTS,
    Lineage,
    event_key,
    execution_parameters,
    format_millis,
    trainer_config,
)
from t2i.summary import artifact_figures


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
    created = format_millis(artifact.create_time_since_epoch)
    return (f"{lineage.type_of(artifact_id)} #{artifact_id} ({created})"
            + (f"  {figures}" if figures else "") + f"\n{{pad}}  {artifact.uri}")


def _execution_line(lineage: Lineage, execution_id: int) -> str:
    execution = lineage.executions[execution_id]
    state = mlmd.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
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
            "created": format_millis(a.create_time_since_epoch),
            "properties": mlmd.custom_properties(a),
            "produced_by": lineage.producer(a.id),
        } for a in sorted(lineage.artifacts.values(), key=lambda a: a.id)],
        "executions": [{
            "id": e.id, "component": lineage.node_ids.get(e.id, e.type),
            "run": lineage.run_ids.get(e.id),
            "state": mlmd.EXECUTION_STATES.get(e.last_known_state, "?"),
            "parameters": execution_parameters(e),
            "trainer_config": trainer_config(e) or None,
            "inputs": [{"key": k, "artifact": a} for k, a in lineage.inputs_of(e.id)],
            "outputs": [{"key": k, "artifact": a} for k, a in lineage.outputs_of(e.id)],
        } for e in sorted(lineage.executions.values(), key=lambda e: e.id)],
    }


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
        state = mlmd.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
        run = lineage.run_ids.get(execution_id, "")
        graph.add_node(pydot.Node(f"e{execution_id}", label=f'"{node}\\n#{execution_id} {state}\\n{run}"',
                                  shape="box", style='"rounded,filled"', fillcolor="#c8e6c9"))
    drawn = _drawn_executions(lineage)
    for event in lineage.events:
        if event.artifact_id not in lineage.artifacts or event.execution_id not in drawn:
            continue
        if event.type == metadata_store_pb2.Event.INPUT:
            edge = pydot.Edge(f"a{event.artifact_id}", f"e{event.execution_id}")
        elif event.type in OUTPUT_EVENTS and lineage.producer(event.artifact_id) == event.execution_id:
            edge = pydot.Edge(f"e{event.execution_id}", f"a{event.artifact_id}")
        else:
            continue
        edge.set_label(f'"{event_key(event)}"')
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

    from t2i.graphs import render

    svg = render(to_dot(lineage), "svg").decode("utf-8")
    text = html.escape(to_text(lineage))
    roots = ", ".join(f"#{r}" for r in lineage.roots)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lineage {roots}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em} svg{max-width:100%;height:auto}"
            "pre{font-size:12px;background:#f7f7f7;padding:1em}</style></head><body>"
            f"<h1>{lineage.direction.capitalize()} lineage of {roots}</h1>{svg}<pre>{text}</pre></body></html>")
