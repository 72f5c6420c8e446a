"""What the web app reads from ML Metadata and the pipeline root: the run history with each
run's key figures, the config each run recorded, and the collection each pushed version
indexes. TF-free (ml_metadata only).
"""

from __future__ import annotations

import os

from t2i import mlmd
from t2i.paths import Paths
from t2i.lineage import history
from t2i.summary import artifact_figures

# (component, output key, figure, shown as): the figures the runs table shows.
KEY_FIGURES = (
    ("CocoExampleGen", "examples", "images_ingested", "images"),
    ("RetrievalEvaluator", "evaluation", "text_to_image_recall_at_10", "text→image R@10"),
    ("SearcherBuilder", "searcher", "num_items", "items"),
    ("SearcherBuilder", "searcher", "bytes_per_item", "bytes/item"),
    ("SearcherValidator", "blessing", "recall_at_10", "device R@10"),
    ("SearcherValidator", "blessing", "p50_ms", "device p50 ms"),
)


class RecordsError(LookupError):
    pass


def open_store(root: str):
    try:
        return mlmd.connect(root)
    except mlmd.StoreError as e:
        raise RecordsError(str(e)) from e


def run_ids(store) -> list[str]:
    return [context.name for context in mlmd.pipeline_runs(store)]


def check_run_id(store, run_id: str) -> str:
    """The run id when the store knows it; raises RecordsError otherwise (so a run id
    from a URL is never used to build a path before it is known to be a real run)."""
    if run_id not in run_ids(store):
        raise RecordsError(f"no pipeline run {run_id!r} in the metadata store")
    return run_id


def key_figures(executions) -> dict:
    found = {}
    for node in executions:
        for component, key, figure, label in KEY_FIGURES:
            if node.node_id != component:
                continue
            for artifact in node.outputs.get(key, []):
                value = artifact_figures(artifact, limit=100).get(figure)
                if value is not None:
                    found[label] = value
    return {label: found[label] for *_, label in KEY_FIGURES if label in found}


def runs(store) -> list[dict]:
    """history.run_rows, newest first, each with its key figures."""
    rows = history.run_rows(store)
    for row in rows:
        executions = mlmd.run_executions(store, row["run"])
        row["figures"] = key_figures(executions)
    return rows[::-1]


def report_path(root: str, run_id: str) -> str:
    return os.path.join(Paths.of(root).reports_dir, f"{run_id}.html")
