"""Graphs as DOT (pydot) and their pictures (Debian's graphviz `dot`), for the run report
and `t2i lineage`."""
from __future__ import annotations

import pydot

_STATE_COLOURS = {"COMPLETE": "#c8e6c9", "CACHED": "#bbdefb", "FAILED": "#ffcdd2",
                  "RUNNING": "#fff9c4", "CANCELED": "#eeeeee"}


def dag_dot(executions) -> pydot.Dot:
    """Executions as nodes; an edge wherever one execution's output feeds another's input."""
    graph = pydot.Dot("run", graph_type="digraph", rankdir="LR", fontname="Helvetica")
    graph.set_node_defaults(shape="box", style='"rounded,filled"', fontname="Helvetica", fontsize="11")
    producer = {}
    for node in executions:
        for artifacts in node.outputs.values():
            for artifact in artifacts:
                producer[artifact.id] = node.node_id
    for node in executions:
        label = f"{node.node_id}\\n{node.state.lower()} {node.seconds:.1f} s"
        graph.add_node(pydot.Node(_quote(node.node_id), label=f'"{label}"',
                                  fillcolor=_STATE_COLOURS.get(node.state, "#ffffff")))
    edges = set()
    for node in executions:
        for key, artifacts in node.inputs.items():
            for artifact in artifacts:
                source = producer.get(artifact.id)
                if source and (source, node.node_id, key) not in edges:
                    edges.add((source, node.node_id, key))
                    graph.add_edge(pydot.Edge(_quote(source), _quote(node.node_id),
                                              label=f'"{key}"', fontsize="9"))
    return graph


def render(graph: pydot.Dot, fmt: str) -> bytes:
    """`fmt` is svg or png; needs graphviz's `dot` (make setup installs it)."""
    import shutil

    if shutil.which("dot") is None:
        raise RuntimeError("graphviz's `dot` is not installed (apt-get install graphviz)")
    return graph.create(format=fmt)


def _quote(name: str) -> str:
    return f'"{name}"'
