"""A traced Lineage as text, JSON, a DOT graph (PNG/SVG through graphviz) or HTML.

The graph is meant to be read: laid out top to bottom by stage (each component's outputs
one rank below it), short node labels at 12 pt (16 px at natural size: the HTML shows it in
a scrollable box instead of shrinking it), each node's full property list folded below the
picture. graphviz does the placing; what is ours is what goes on a node and what is folded.
Used by `t2i lineage --format dot/png/html` and `t2i serve`.
"""

from __future__ import annotations

import html

from ml_metadata.proto import metadata_store_pb2

from t2i import mlmd
from t2i.lineage.graph import (
    OUTPUT_EVENTS,
    Lineage,
    execution_parameters,
    format_millis,
    trainer_config,
)
from t2i.summary import artifact_figures


def to_text(lineage: Lineage) -> str:
    """A tree from the target(s): each artifact once with its figures, each execution once
    with its parameters (later mentions say "shown above"); no input/output key names."""
    lines: list[str] = []
    seen: set = set()  # artifact ids and ("e", execution id)
    for root in lineage.roots:
        if root in lineage.artifacts:
            _text_artifact(lineage, root, "", "", lines, seen)
    return "\n".join(lines)


def _artifact_line(lineage: Lineage, artifact_id: int) -> str:
    artifact = lineage.artifacts[artifact_id]
    figures = ", ".join(f"{k}={v}" for k, v in artifact_figures(artifact).items())
    created = format_millis(artifact.create_time_since_epoch)
    return (
        f"{lineage.type_of(artifact_id)} #{artifact_id} ({created})"
        + (f"  {figures}" if figures else "")
        + f"\n{{pad}}  {artifact.uri}"
    )


def _execution_line(lineage: Lineage, execution_id: int, seen: set) -> str:
    execution = lineage.executions[execution_id]
    state = mlmd.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
    node = lineage.node_ids.get(execution_id, execution.type or "?")
    run = lineage.run_ids.get(execution_id, "?")
    if ("e", execution_id) in seen:
        return f"{node} execution #{execution_id} (shown above)"
    seen.add(("e", execution_id))
    params = ", ".join(f"{k}={v}" for k, v in execution_parameters(execution).items())
    config = trainer_config(execution)
    if config:
        params = ", ".join(filter(None, [params, ", ".join(f"{k}={v}" for k, v in config.items())]))
    return f"{node} execution #{execution_id} [{state}, run {run}]" + (
        f"  {params}" if params else ""
    )


def _text_artifact(lineage, artifact_id, prefix, child_prefix, lines, seen) -> None:
    if artifact_id in seen:
        lines.append(f"{prefix}{lineage.type_of(artifact_id)} #{artifact_id} (shown above)")
        return
    seen.add(artifact_id)
    head, uri = _artifact_line(lineage, artifact_id).split("\n", 1)
    lines.append(prefix + head)
    lines.append(uri.replace("{pad}", child_prefix))
    if lineage.direction == "upstream":
        producer = lineage.producer(artifact_id)
        if producer is None:
            return
        lines.append(f"{child_prefix}└─ made by {_execution_line(lineage, producer, seen)}")
        _text_children(lineage, lineage.inputs_of(producer), child_prefix + "   ", lines, seen)
    else:
        consumers = lineage.consumers_of(artifact_id)
        for index, (_, execution_id) in enumerate(consumers):
            last = index == len(consumers) - 1
            lines.append(
                f"{child_prefix}{'└─' if last else '├─'} used by "
                f"{_execution_line(lineage, execution_id, seen)}"
            )
            _text_children(
                lineage,
                lineage.outputs_of(execution_id),
                child_prefix + ("   " if last else "│  "),
                lines,
                seen,
            )


def _text_children(lineage, keyed_artifacts, prefix, lines, seen) -> None:
    for index, (_, child) in enumerate(keyed_artifacts):
        last = index == len(keyed_artifacts) - 1
        _text_artifact(
            lineage,
            child,
            f"{prefix}{'└─' if last else '├─'} ",
            prefix + ("   " if last else "│  "),
            lines,
            seen,
        )


def to_json(lineage: Lineage) -> dict:
    return {
        "roots": lineage.roots,
        "direction": lineage.direction,
        "artifacts": [
            {
                "id": a.id,
                "type": lineage.type_of(a.id),
                "uri": a.uri,
                "created": format_millis(a.create_time_since_epoch),
                "properties": mlmd.custom_properties(a),
                "produced_by": lineage.producer(a.id),
            }
            for a in sorted(lineage.artifacts.values(), key=lambda a: a.id)
        ],
        "executions": [
            {
                "id": e.id,
                "component": lineage.node_ids.get(e.id, e.type),
                "run": lineage.run_ids.get(e.id),
                "state": mlmd.EXECUTION_STATES.get(e.last_known_state, "?"),
                "parameters": execution_parameters(e),
                "trainer_config": trainer_config(e) or None,
                "inputs": [{"key": k, "artifact": a} for k, a in lineage.inputs_of(e.id)],
                "outputs": [{"key": k, "artifact": a} for k, a in lineage.outputs_of(e.id)],
            }
            for e in sorted(lineage.executions.values(), key=lambda e: e.id)
        ],
    }


FONT_SIZE = "12"  # points in the SVG: about 16 px at 100 % zoom
_ARTIFACT_COLOUR, _ROOT_COLOUR, _EXECUTION_COLOUR = "#e3f2fd", "#ffe082", "#c8e6c9"


def _drawn_executions(lineage: Lineage) -> set[int]:
    """Upstream: each artifact's producer (cache hits that re-recorded it are left out);
    downstream: every execution that consumed something in the graph."""
    if lineage.direction == "upstream":
        return {p for p in map(lineage.producer, lineage.artifacts) if p is not None}
    return {e for a in lineage.artifacts for _, e in lineage.consumers_of(a)}


def artifact_anchor(artifact_id: int) -> str:
    return f"a{artifact_id}"


def execution_anchor(execution_id: int) -> str:
    return f"e{execution_id}"


def to_dot(lineage: Lineage, link_prefix: str = "#"):
    """The graph as DOT; each node links to `<link_prefix><anchor>`."""
    import pydot

    graph = pydot.Dot(
        "lineage",
        graph_type="digraph",
        rankdir="TB",
        nodesep="0.25",
        ranksep="0.35",
        fontname="Helvetica",
    )
    graph.set_node_defaults(fontname="Helvetica", fontsize=FONT_SIZE, margin="0.12,0.06")
    graph.set_edge_defaults(color="#607d8b", arrowsize="0.7")
    for artifact_id in sorted(lineage.artifacts):
        artifact = lineage.artifacts[artifact_id]
        figures = list(artifact_figures(artifact).items())[:2]
        lines = [f"{lineage.type_of(artifact_id)} #{artifact_id}"]
        lines += [f"{k} = {v}" for k, v in figures]
        colour = _ROOT_COLOUR if artifact_id in lineage.roots else _ARTIFACT_COLOUR
        anchor = artifact_anchor(artifact_id)
        graph.add_node(
            pydot.Node(
                anchor,
                label=_label(lines),
                shape="note",
                style="filled",
                fillcolor=colour,
                URL=f'"{link_prefix}{anchor}"',
            )
        )
    drawn = _drawn_executions(lineage)
    for execution_id in sorted(drawn):
        execution = lineage.executions[execution_id]
        node = lineage.node_ids.get(execution_id, execution.type)
        state = mlmd.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
        run = lineage.run_ids.get(execution_id, "")
        anchor = execution_anchor(execution_id)
        graph.add_node(
            pydot.Node(
                anchor,
                label=_label([node, f"{state} · run {run}"]),
                shape="box",
                style='"rounded,filled"',
                fillcolor=_EXECUTION_COLOUR,
                URL=f'"{link_prefix}{anchor}"',
            )
        )
    edges = set()
    for event in lineage.events:
        if event.artifact_id not in lineage.artifacts or event.execution_id not in drawn:
            continue
        artifact, execution = (
            artifact_anchor(event.artifact_id),
            execution_anchor(event.execution_id),
        )
        if event.type == metadata_store_pb2.Event.INPUT:
            edges.add((artifact, execution))
        elif (
            event.type in OUTPUT_EVENTS
            and lineage.producer(event.artifact_id) == event.execution_id
        ):
            edges.add((execution, artifact))
    for source, target in sorted(edges):
        graph.add_edge(pydot.Edge(source, target))
    return graph


def _label(lines: list[str]) -> str:
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def folded_properties(lineage: Lineage) -> str:
    """One <details> per node: an artifact's URI and every property, an execution's
    parameters; closed until clicked."""
    parts = ["<div class='props'>"]
    for artifact_id in sorted(lineage.artifacts):
        artifact = lineage.artifacts[artifact_id]
        rows = {"uri": artifact.uri, **mlmd.custom_properties(artifact)}
        producer = lineage.producer(artifact_id)
        if producer is not None:
            rows["made by"] = (
                f"{lineage.node_ids.get(producer, '?')} "
                f"(execution #{producer}, run {lineage.run_ids.get(producer, '?')})"
            )
        parts.append(
            _details(
                artifact_anchor(artifact_id), f"{lineage.type_of(artifact_id)} #{artifact_id}", rows
            )
        )
    for execution_id in sorted(lineage.executions):
        execution = lineage.executions[execution_id]
        rows = {
            "run": lineage.run_ids.get(execution_id, "?"),
            "state": mlmd.EXECUTION_STATES.get(execution.last_known_state, "?"),
            **execution_parameters(execution),
            **trainer_config(execution),
        }
        name = lineage.node_ids.get(execution_id, execution.type)
        parts.append(
            _details(execution_anchor(execution_id), f"{name} (execution #{execution_id})", rows)
        )
    parts.append("</div>")
    return "\n".join(parts)


def _details(anchor: str, title: str, rows: dict) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows.items()
    )
    return (
        f"<details id='{anchor}'><summary>{html.escape(title)}</summary>"
        f"<table>{cells}</table></details>"
    )


def svg(lineage: Lineage, link_prefix: str = "#") -> str:
    from t2i.graphs import render

    text = render(to_dot(lineage, link_prefix), "svg").decode("utf-8")
    return text[text.find("<svg") :]  # without the XML prolog and DOCTYPE, for inline use


STYLE = """
.graph { overflow: auto; max-height: 80vh; border: 1px solid #ccc; background: #fafafa; }
.graph svg { display: block; }
.props details { margin: 2px 0; } .props summary { cursor: pointer; }
.props table { border-collapse: collapse; margin: 4px 0 8px 1.5em; font-size: 13px; }
.props th, .props td { border: 1px solid #ddd; padding: 2px 6px; text-align: left;
  vertical-align: top; word-break: break-all; }
"""


def to_html(lineage: Lineage) -> str:
    """A standalone page (what `t2i lineage --format html` writes)."""
    roots = ", ".join(f"#{r}" for r in lineage.roots)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lineage {roots}</title>"
        f"<style>body{{font-family:system-ui,sans-serif;margin:2em}}{STYLE}</style></head>"
        f"<body><h1>{lineage.direction.capitalize()} lineage of {roots}</h1>"
        f"<div class='graph'>{svg(lineage)}</div>"
        f"<h2>Properties</h2>{folded_properties(lineage)}</body></html>"
    )
