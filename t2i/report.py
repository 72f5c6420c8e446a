"""The run report, `runs/reports/<run id>.html`: one self-contained page per run.

Built only from ML Metadata and the artifacts' own files, so it can be regenerated for
any past run (`t2i report <run id>`). Read top to bottom: a summary of the figures a person
looks for (pushed version, items, recall, on-device recall and latency, searcher size,
duration), the pictures (training curve, recall@K, contact sheets), the DAG as executed
with its slow steps marked, per-component wall time and outputs (linked to their folders),
and, folded, every summary file the components wrote. Links lead to the previous and next
run's reports (same folder) and to each artifact's folder.
"""

from __future__ import annotations

import base64
import html
import json
import os

from t2i import mlmd
from t2i.paths import Paths
from t2i.summary import artifact_figures, pushed_version, run_seconds

_SUMMARY_FILES = (
    "ingest_report.json",
    "training_summary.json",
    "retrieval_metrics.json",
    "embeddings_summary.json",
    "export_summary.json",
    "searcher_summary.json",
    "validation_summary.json",
)
# (component, output key, property, label, format): the summary at the top of the report.
_SUMMARY_FIGURES = (
    ("CocoExampleGen", "examples", "images_ingested", "images ingested", "{:,}"),
    ("SearcherBuilder", "searcher", "num_items", "items in the index", "{:,}"),
    (
        "RetrievalEvaluator",
        "evaluation",
        "text_to_image_recall_at_1",
        "text→image recall@1",
        "{:.3f}",
    ),
    (
        "RetrievalEvaluator",
        "evaluation",
        "text_to_image_recall_at_10",
        "text→image recall@10",
        "{:.3f}",
    ),
    ("SearcherValidator", "blessing", "recall_at_10", "on-device recall@10 (vs exact)", "{:.3f}"),
    ("SearcherValidator", "blessing", "p50_ms", "on-device latency p50", "{:.2f} ms"),
    ("SearcherValidator", "blessing", "p95_ms", "on-device latency p95", "{:.2f} ms"),
    ("SearcherBuilder", "searcher", "searcher_bytes", "searcher.tflite", "{:,} bytes"),
    ("SearcherBuilder", "searcher", "bytes_per_item", "index bytes per item", "{:.1f}"),
)
# A step is marked slow in the DAG when it takes this share of the run (and 5 s or more).
SLOW_SHARE = 0.15
SLOW_MIN_SECONDS = 5.0


def write_report(
    root: str,
    run_id: str,
    executions: list[mlmd.NodeExecution] | None = None,
) -> str:
    """Writes <reports>/<run id>.html. `executions`: the run's, when the caller has read
    them already (a finished `t2i run`); else they are read from the store."""
    store = mlmd.connect(root)
    if executions is None:
        executions = mlmd.run_executions(store, run_id)
    seconds = run_seconds(store, run_id, executions)
    summaries = _artifact_summaries(executions)
    pictures = []
    if "training_summary.json" in summaries:
        pictures.append(("training loss", _training_curve(summaries["training_summary.json"])))
    # Plots first, then the (tall) contact sheets.
    ordered = sorted(
        _artifact_images(executions).items(), key=lambda item: "contact_sheet" in item[1]
    )
    pictures += [(title, _img(path)) for title, path in ordered]
    sections = [
        f"<h1>t2i-searcher run {html.escape(run_id)}</h1>",
        _run_links(store, run_id),
        _summary_table(executions, seconds),
    ]
    if pictures:
        sections += ["<h2>Pictures</h2>", "<div class='pictures'>"]
        sections += [
            f"<figure>{image}<figcaption>{html.escape(title)}</figcaption></figure>"
            for title, image in pictures
        ]
        sections.append("</div>")
    sections += [
        "<h2>DAG</h2>",
        "<p class='muted'>Each box a component with its state and wall time; "
        "<b class='slow'>red</b>: a slow step (≥ 15 % of the run).</p>",
        f"<div class='dag'>{_dag_svg(executions, seconds)}</div>",
        "<h2>Components</h2>",
        _component_table(executions),
        "<h2>Summary files</h2>",
    ]
    for name, data in summaries.items():
        sections.append(
            f"<details><summary>{html.escape(name)}</summary>{_json_table(data)}</details>"
        )
    path = os.path.join(Paths.of(root).reports_dir, f"{run_id}.html")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(_PAGE.format(title=html.escape(run_id), body="\n".join(sections)))
    return path


def _run_links(store, run_id: str) -> str:
    """Links to the previous and next run's reports (they sit in the same folder)."""
    ids = [context.name for context in mlmd.pipeline_runs(store)]
    index = ids.index(run_id) if run_id in ids else -1
    links = []
    if index > 0:
        links.append(
            f"<a href='{html.escape(ids[index - 1])}.html'>← run {html.escape(ids[index - 1])}</a>"
        )
    if 0 <= index < len(ids) - 1:
        links.append(
            f"<a href='{html.escape(ids[index + 1])}.html'>run {html.escape(ids[index + 1])} →</a>"
        )
    return f"<p class='nav'>{' · '.join(links)}</p>" if links else ""


def summary_figures(executions) -> list[tuple[str, str]]:
    """(label, formatted value) of the run's key figures, in _SUMMARY_FIGURES order."""
    found = {}
    for node in executions:
        for component, key, name, label, fmt in _SUMMARY_FIGURES:
            if node.node_id != component:
                continue
            for artifact in node.outputs.get(key, []):
                value = mlmd.custom_properties(artifact).get(name)
                if isinstance(value, (int, float)):
                    found[label] = fmt.format(value)
    return [(label, found[label]) for *_, label, _ in _SUMMARY_FIGURES if label in found]


def _summary_table(executions, seconds: float) -> str:
    states: dict[str, int] = {}
    for node in executions:
        states[node.state.lower()] = states.get(node.state.lower(), 0) + 1
    pushed = pushed_version(executions)
    rows = [
        ("pushed version", f"v{pushed[0]}" if pushed else "nothing pushed"),
        *summary_figures(executions),
        ("duration", f"{seconds:.1f} s"),
        ("components", ", ".join(f"{n} {state}" for state, n in sorted(states.items()))),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    if pushed and pushed[1]:
        cells += (
            f"<tr><th>served from</th><td><a href='{_file_url(pushed[1])}'>"
            f"{html.escape(pushed[1])}</a></td></tr>"
        )
    return f"<table class='summary'>{cells}</table>"


def _file_url(path: str) -> str:
    from urllib.parse import quote

    return "file://" + quote(os.path.abspath(path))


def _component_table(executions) -> str:
    rows = ["<tr><th>component</th><th>state</th><th>wall time</th><th>outputs</th></tr>"]
    for node in executions:
        outputs = []
        for key, artifacts in node.outputs.items():
            for artifact in artifacts:
                figures = ", ".join(f"{k}={v}" for k, v in artifact_figures(artifact).items())
                outputs.append(
                    f"<b>{html.escape(key)}</b> "
                    f"<a href='{_file_url(artifact.uri)}'><code>{html.escape(artifact.uri)}"
                    f"</code></a><br><small>{html.escape(figures)}</small>"
                )
        rows.append(
            f"<tr><td>{html.escape(node.node_id)}</td><td>{node.state.lower()}</td>"
            f"<td>{node.seconds:.1f} s</td><td>{'<br>'.join(outputs)}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _artifact_summaries(executions) -> dict[str, dict]:
    found = {}
    for _, directory, name in _output_files(executions):
        if name in _SUMMARY_FILES and name not in found:
            with open(os.path.join(directory, name)) as f:
                found[name] = json.load(f)
    return found


def _artifact_images(executions) -> dict[str, str]:
    return {
        f"{node_id}: {name}": os.path.join(directory, name)
        for node_id, directory, name in _output_files(executions)
        if name.endswith(".png")
    }


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
        rows.append(
            f"<tr><td>{html.escape(str(key))}</td><td><code>{html.escape(text)}</code></td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _dag_svg(executions, run_seconds: float) -> str:
    from t2i.graphs import dag_dot, render

    slow = {
        n.node_id
        for n in executions
        if n.seconds >= SLOW_MIN_SECONDS and n.seconds >= SLOW_SHARE * run_seconds
    }
    try:
        svg = render(dag_dot(executions, slow), "svg").decode("utf-8")
        return svg[svg.find("<svg") :]
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
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }}
table.summary th {{ background: #f3f6f8; font-weight: 600; }}
table.summary td {{ font-variant-numeric: tabular-nums; }}
code {{ font-size: 85%; }} .muted {{ color: #666; font-size: 14px; }} .slow {{ color: #c62828; }}
.pictures {{ display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }}
figure {{ margin: 0; max-width: 100%; }} figure img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 13px; }}
.dag {{ overflow: auto; max-height: 90vh; border: 1px solid #ddd; }} .dag svg {{ display: block; }}
details {{ margin: 4px 0; }} summary {{ cursor: pointer; font-weight: 600; }}
</style></head><body>
{body}
</body></html>
"""
