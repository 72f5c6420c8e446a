"""The run report, `runs/reports/<run id>.html`: one self-contained page per run.

Built only from ML Metadata and the artifacts' own files, so it can be regenerated for
any past run (`t2i report <run id>`): the DAG as executed, per-component wall time and
status, each artifact's key figures, the training curve, the recall table, the searcher
statistics and every picture the components wrote (recall plot, contact sheets).
"""
from __future__ import annotations

import base64
import html
import json
import os

from t2i import mlmd
from t2i.paths import Paths
from t2i.summary import artifact_figures, run_overview

_SUMMARY_FILES = (
    "ingest_report.json", "training_summary.json", "retrieval_metrics.json",
    "embeddings_summary.json", "export_summary.json", "searcher_summary.json",
    "validation_summary.json",
)


def write_report(root: str, run_id: str, executions: list[mlmd.NodeExecution] | None = None,
                 ) -> str:
    """Writes <reports>/<run id>.html. `executions`: the run's, when the caller has read
    them already (a finished `t2i run`); else they are read from the store."""
    if executions is None:
        executions = mlmd.run_executions(mlmd.connect(root), run_id)
    overview = run_overview(run_id, executions)
    sections = [
        f"<h1>t2i-searcher run {html.escape(run_id)}</h1>",
        f"<p>{html.escape(overview)}</p>",
        "<h2>DAG</h2>", _dag_svg(executions),
        "<h2>Components</h2>", _component_table(executions),
    ]
    summaries = _artifact_summaries(executions)
    if "training_summary.json" in summaries:
        sections += ["<h2>Training</h2>", _training_curve(summaries["training_summary.json"])]
    for name, data in summaries.items():
        sections += [f"<h2>{html.escape(name)}</h2>", _json_table(data)]
    for title, path in _artifact_images(executions).items():
        sections += [f"<h2>{html.escape(title)}</h2>", _img(path)]
    path = os.path.join(Paths.of(root).reports_dir, f"{run_id}.html")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(_PAGE.format(title=html.escape(run_id), body="\n".join(sections)))
    return path


def _component_table(executions) -> str:
    rows = ["<tr><th>component</th><th>state</th><th>wall time</th><th>outputs</th></tr>"]
    for node in executions:
        outputs = []
        for key, artifacts in node.outputs.items():
            for artifact in artifacts:
                figures = ", ".join(f"{k}={v}" for k, v in artifact_figures(artifact).items())
                outputs.append(f"<b>{html.escape(key)}</b> #{artifact.id} "
                               f"<code>{html.escape(artifact.uri)}</code><br><small>{html.escape(figures)}</small>")
        rows.append(f"<tr><td>{html.escape(node.node_id)}</td><td>{node.state.lower()}</td>"
                    f"<td>{node.seconds:.1f} s</td><td>{'<br>'.join(outputs)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _artifact_summaries(executions) -> dict[str, dict]:
    found = {}
    for _, directory, name in _output_files(executions):
        if name in _SUMMARY_FILES and name not in found:
            with open(os.path.join(directory, name)) as f:
                found[name] = json.load(f)
    return found


def _artifact_images(executions) -> dict[str, str]:
    return {f"{node_id}: {name}": os.path.join(directory, name)
            for node_id, directory, name in _output_files(executions) if name.endswith(".png")}


def _output_files(executions):
    """(node id, directory, file name) of every file near the top of every output artifact."""
    for node in executions:
        for artifacts in node.outputs.values():
            for artifact in artifacts:
                for directory, _, files in _walk_shallow(artifact.uri):
                    for name in sorted(files):
                        yield node.node_id, directory, name


def _walk_shallow(uri: str, depth: int = 2):
    """os.walk limited to `depth` levels: summaries sit at the top of an artifact or one
    level down (Format-Serving/), never deep inside SavedModels."""
    if not uri or not os.path.isdir(uri):
        return
    base = uri.rstrip("/").count(os.sep)
    for root, dirs, files in os.walk(uri):
        if root.count(os.sep) - base >= depth:
            dirs[:] = []
        yield root, dirs, files


def _training_curve(summary: dict) -> str:
    losses = summary.get("loss_curve") or summary.get("epoch_loss") or []
    if not losses:
        return "<p>no loss curve recorded</p>"
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    axis.plot(range(1, len(losses) + 1), losses, marker="o")
    axis.set_xlabel("epoch")
    axis.set_ylabel("contrastive loss")
    axis.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return _img_bytes(buffer.getvalue())


def _json_table(data: dict) -> str:
    rows = []
    for key, value in data.items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if len(text) > 400:
            text = text[:400] + " ..."
        rows.append(f"<tr><td>{html.escape(str(key))}</td><td><code>{html.escape(text)}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _dag_svg(executions) -> str:
    from t2i.graphs import dag_dot, render

    try:
        return render(dag_dot(executions), "svg").decode("utf-8")
    except Exception as e:  # graphviz missing: the page still has everything else
        return f"<p>(DAG picture unavailable: {html.escape(str(e))})</p>"


def _img(path: str) -> str:
    with open(path, "rb") as f:
        return _img_bytes(f.read())


def _img_bytes(data: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}">'


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>t2i run {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }}
code {{ font-size: 85%; }} img {{ max-width: 100%; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
{body}
</body></html>
"""
