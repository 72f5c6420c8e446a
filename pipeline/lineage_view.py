"""A lineage graph a person can read: laid out top to bottom by stage (each component's
outputs one rank below it), short node labels at a readable size, the picture shown at its
natural size in a scrollable box, every node's properties folded below it. Used by
`t2i serve` and `t2i lineage --format html/png`.

graphviz's own layered layout does the placing; what is ours is the choice of what goes on
a node (type, id, two key figures) and what goes into the folded lists (everything else).
"""
from __future__ import annotations

import html

from pipeline import metadata_store
from pipeline.lineage import (Lineage, _drawn_executions, _OUTPUT_EVENTS, execution_parameters,
                              trainer_config)
from pipeline.summary import artifact_figures

FONT_SIZE = "12"  # points in the SVG: about 16 px at 100 % zoom
_ARTIFACT_COLOUR, _ROOT_COLOUR, _EXECUTION_COLOUR = "#e3f2fd", "#ffe082", "#c8e6c9"


def artifact_anchor(artifact_id: int) -> str:
    return f"a{artifact_id}"


def execution_anchor(execution_id: int) -> str:
    return f"e{execution_id}"


def readable_dot(lineage: Lineage, link_prefix: str = "#"):
    """The graph as DOT; each node links to `<link_prefix><anchor>`."""
    import pydot

    graph = pydot.Dot("lineage", graph_type="digraph", rankdir="TB", nodesep="0.25",
                      ranksep="0.35", fontname="Helvetica")
    graph.set_node_defaults(fontname="Helvetica", fontsize=FONT_SIZE, margin="0.12,0.06")
    graph.set_edge_defaults(color="#607d8b", arrowsize="0.7")
    for artifact_id in sorted(lineage.artifacts):
        artifact = lineage.artifacts[artifact_id]
        figures = list(artifact_figures(artifact).items())[:2]
        lines = [f"{lineage.type_of(artifact_id)} #{artifact_id}"]
        lines += [f"{k} = {v}" for k, v in figures]
        colour = _ROOT_COLOUR if artifact_id in lineage.roots else _ARTIFACT_COLOUR
        anchor = artifact_anchor(artifact_id)
        graph.add_node(pydot.Node(anchor, label=_label(lines), shape="note", style="filled",
                                  fillcolor=colour, URL=f'"{link_prefix}{anchor}"'))
    drawn = _drawn_executions(lineage)
    for execution_id in sorted(drawn):
        execution = lineage.executions[execution_id]
        node = lineage.node_ids.get(execution_id, execution.type)
        state = metadata_store.EXECUTION_STATES.get(execution.last_known_state, "?").lower()
        run = lineage.run_ids.get(execution_id, "")
        anchor = execution_anchor(execution_id)
        graph.add_node(pydot.Node(anchor, label=_label([node, f"{state} · run {run}"]),
                                  shape="box", style='"rounded,filled"',
                                  fillcolor=_EXECUTION_COLOUR, URL=f'"{link_prefix}{anchor}"'))
    edges = set()
    for event in lineage.events:
        if event.artifact_id not in lineage.artifacts or event.execution_id not in drawn:
            continue
        artifact, execution = artifact_anchor(event.artifact_id), execution_anchor(event.execution_id)
        if event.type == metadata_store.metadata_store_pb2.Event.INPUT:
            edges.add((artifact, execution))
        elif event.type in _OUTPUT_EVENTS and lineage.producer(event.artifact_id) == event.execution_id:
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
        rows = {"uri": artifact.uri, **metadata_store.custom_properties(artifact)}
        producer = lineage.producer(artifact_id)
        if producer is not None:
            rows["made by"] = (f"{lineage.node_ids.get(producer, '?')} "
                               f"(execution #{producer}, run {lineage.run_ids.get(producer, '?')})")
        parts.append(_details(artifact_anchor(artifact_id),
                              f"{lineage.type_of(artifact_id)} #{artifact_id}", rows))
    for execution_id in sorted(lineage.executions):
        execution = lineage.executions[execution_id]
        rows = {"run": lineage.run_ids.get(execution_id, "?"),
                "state": metadata_store.EXECUTION_STATES.get(execution.last_known_state, "?"),
                **execution_parameters(execution), **trainer_config(execution)}
        name = lineage.node_ids.get(execution_id, execution.type)
        parts.append(_details(execution_anchor(execution_id),
                              f"{name} (execution #{execution_id})", rows))
    parts.append("</div>")
    return "\n".join(parts)


def _details(anchor: str, title: str, rows: dict) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows.items())
    return (f"<details id='{anchor}'><summary>{html.escape(title)}</summary>"
            f"<table>{cells}</table></details>")


def svg(lineage: Lineage, link_prefix: str = "#") -> str:
    from pipeline.graphs import render

    text = render(readable_dot(lineage, link_prefix), "svg").decode("utf-8")
    return text[text.find("<svg"):]  # without the XML prolog and DOCTYPE, for inline use


STYLE = """
.graph { overflow: auto; max-height: 80vh; border: 1px solid #ccc; background: #fafafa; }
.graph svg { display: block; }
.props details { margin: 2px 0; } .props summary { cursor: pointer; }
.props table { border-collapse: collapse; margin: 4px 0 8px 1.5em; font-size: 13px; }
.props th, .props td { border: 1px solid #ddd; padding: 2px 6px; text-align: left;
  vertical-align: top; word-break: break-all; }
"""


def html_page(lineage: Lineage) -> str:
    """A standalone page (what `t2i lineage --format html` writes)."""
    roots = ", ".join(f"#{r}" for r in lineage.roots)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lineage {roots}</title>"
            f"<style>body{{font-family:system-ui,sans-serif;margin:2em}}{STYLE}</style></head>"
            f"<body><h1>{lineage.direction.capitalize()} lineage of {roots}</h1>"
            f"<div class='graph'>{svg(lineage)}</div>"
            f"<h2>Properties</h2>{folded_properties(lineage)}</body></html>")
