"""Graphs as DOT (pydot) and their pictures (Debian's graphviz `dot`), for the run report
and `t2i lineage`."""

from __future__ import annotations

import pydot

_STATE_COLOURS = {
    "COMPLETE": "#c8e6c9",
    "CACHED": "#bbdefb",
    "FAILED": "#ffcdd2",
    "RUNNING": "#fff9c4",
    "CANCELED": "#eeeeee",
}


def dag_dot(executions, slow: frozenset[str] | set[str] = frozenset()) -> pydot.Dot:
    """Executions as nodes, top to bottom; an edge wherever one execution's output feeds
    another's input. Nodes in `slow` get a thick red frame. 12 pt labels (16 px when the SVG
    is shown at its natural size); no edge labels (they were output key names)."""
    graph = pydot.Dot(
        "run",
        graph_type="digraph",
        rankdir="TB",
        nodesep="0.3",
        ranksep="0.3",
        fontname="Helvetica",
    )
    graph.set_node_defaults(
        shape="box",
        style='"rounded,filled"',
        fontname="Helvetica",
        fontsize="12",
        margin="0.15,0.06",
    )
    graph.set_edge_defaults(color="#607d8b", arrowsize="0.7")
    producer = {}
    for node in executions:
        for artifacts in node.outputs.values():
            for artifact in artifacts:
                producer[artifact.id] = node.node_id
    for node in executions:
        mark = "  (slow)" if node.node_id in slow else ""
        label = f"{node.node_id}\\n{node.state.lower()} {node.seconds:.1f} s{mark}"
        attributes = {"penwidth": "3", "color": "#c62828"} if node.node_id in slow else {}
        graph.add_node(
            pydot.Node(
                _quote(node.node_id),
                label=f'"{label}"',
                fillcolor=_STATE_COLOURS.get(node.state, "#ffffff"),
                **attributes,
            )
        )
    edges = set()
    for node in executions:
        for artifacts in node.inputs.values():
            for artifact in artifacts:
                source = producer.get(artifact.id)
                if source and source != node.node_id and (source, node.node_id) not in edges:
                    edges.add((source, node.node_id))
                    graph.add_edge(pydot.Edge(_quote(source), _quote(node.node_id)))
    return graph


def render(graph: pydot.Dot, fmt: str) -> bytes:
    """`fmt` is svg or png; needs graphviz's `dot` (make setup installs it)."""
    import shutil

    if shutil.which("dot") is None:
        raise RuntimeError("graphviz's `dot` is not installed (apt-get install graphviz)")
    return graph.create(format=fmt)


def _quote(name: str) -> str:
    return f'"{name}"'
