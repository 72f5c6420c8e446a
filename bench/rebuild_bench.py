"""Incremental vs full index rebuild (a measurement, not a test).

Generates a collection in span-1 (t2i/sample_data.py), runs the full pipeline once
(trains, blesses, pushes), adds a span of new images (10% by default), then copies the
pipeline root so that two rebuilds start from the same state:

  incremental  the rebuild DAG as shipped (embedder.incremental=true): only images not yet
               embedded with the blessed model are embedded, and the latest searcher's
               index is extended with them; the index covers all spans
  full         the same DAG with embedder.incremental=false: every span is ingested and
               every image embedded again, and the index is trained afresh

Each rebuild runs in its own child process; the reported time is the wall time of the run
(workflows.run), without the TFX import both pay alike; the process time is
reported too. The ratio incremental/full is the figure of merit (goal <= 0.3).

    .venv/bin/python bench/rebuild_bench.py [--images 2000] [--new-fraction 0.1]
                                            [--repeats 1] [--output result.json]

The machine may be shared: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import t2i  # noqa: F401  (sets the process environment before TensorFlow)

# Blessing thresholds are irrelevant to the timing; a short training keeps set-up quick.
# The small towers: the rebuild is what is measured here, not the training.
SETUP_OVERRIDES = [
    "trainer.image_tower=small_cnn",
    "trainer.text_tower=small_text",
    "trainer.epochs=3",
    "evaluator.min_recall_at_10=0",
    "validator.min_recall_at_10=0",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the first span")
    parser.add_argument("--new-fraction", type=float, default=0.1, help="new images, as a fraction")
    parser.add_argument("--repeats", type=int, default=1, help="rebuild pairs (order alternates)")
    parser.add_argument(
        "--workdir", default=None, help="where to put data and roots (removed after)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(json.loads(args.child))

    work = tempfile.mkdtemp(prefix="rebuild-bench-", dir=args.workdir)
    report = {
        "command": " ".join([os.path.relpath(sys.executable)] + sys.argv),
        "cpu_count": os.cpu_count(),
        "load_before": os.getloadavg(),
        "images": args.images,
        "new_images": max(1, round(args.images * args.new_fraction)),
    }
    try:
        report.update(_measure(work, args, report["new_images"]))
    finally:
        report["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


def _measure(work: str, args, new_images: int) -> dict:
    from t2i import sample_data

    data = os.path.join(work, "data")
    sample_data.generate(data, num_images=args.images, seed=11, spans=1)
    base = os.path.join(work, "base")
    setup = _run_child(base, data, "full", [])
    if not setup["succeeded"]:
        raise SystemExit(f"rebuild_bench: the full pipeline failed: {setup}")
    sample_data.add_span(data, new_images, seed=12)
    times = {"incremental": [], "full": []}
    details = []
    for repeat in range(args.repeats):
        order = ["incremental", "full"] if repeat % 2 == 0 else ["full", "incremental"]
        for mode in order:
            root = os.path.join(work, f"{mode}-{repeat}")
            # The same starting state for both rebuilds (serving/latest is a symlink: keep it one).
            shutil.copytree(base, root, symlinks=True)
            extra = ["embedder.incremental=false"] if mode == "full" else []
            result = _run_child(root, data, "rebuild", extra)
            if not result["succeeded"]:
                raise SystemExit(f"rebuild_bench: the {mode} rebuild failed: {result}")
            times[mode].append(result["run_seconds"])
            details.append(dict(result, mode=mode, repeat=repeat))
            shutil.rmtree(root, ignore_errors=True)
    incremental, full = statistics.median(times["incremental"]), statistics.median(times["full"])
    return {
        "setup_seconds": setup["run_seconds"],
        "incremental_seconds": incremental,
        "full_seconds": full,
        "ratio": round(incremental / full, 3),
        "goal": 0.3,
        "runs": details,
    }


def _run_child(root: str, data: str, kind: str, extra: list[str]) -> dict:
    overrides = (
        SETUP_OVERRIDES
        + [
            f"pipeline.root={root}",
            f"data.data_dir={data}",
            f"pusher.serving_dir={os.path.join(root, 'serving')}",
        ]
        + extra
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"kind": kind, "overrides": overrides})],
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"rebuild_bench: child failed:\n{result.stderr[-3000:]}")
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    payload["process_seconds"] = round(time.perf_counter() - started, 1)
    return payload


def _child(spec: dict) -> None:
    from t2i import mlmd, workflows
    from t2i import dags  # noqa: F401  (the TFX import, outside the timing)
    from t2i.configs import load_config

    config = load_config(None, spec["overrides"])
    started = time.perf_counter()
    outcome = workflows.run(config, out=io.StringIO(), pipeline_kind=spec["kind"])
    seconds = time.perf_counter() - started
    figures = {}
    if outcome.succeeded:
        store = mlmd.connect(config.pipeline.root)
        for node in mlmd.run_executions(store, outcome.run_id):
            figures[node.node_id] = node.state
            if node.node_id == "ImageEmbedder" and node.outputs.get("embeddings"):
                props = mlmd.custom_properties(node.outputs["embeddings"][0])
                figures["embedded_new"] = props.get("embedded_new")
                figures["reused"] = props.get("reused")
            if node.node_id == "SearcherBuilder" and node.outputs.get("searcher"):
                props = mlmd.custom_properties(node.outputs["searcher"][0])
                figures["index_extended"] = bool(props.get("incremental"))
                figures["index_build_seconds"] = props.get("build_seconds")
    print(
        json.dumps(
            {
                "succeeded": outcome.succeeded,
                "run_seconds": round(seconds, 1),
                "run_id": outcome.run_id,
                "pushed": outcome.pushed,
                "nodes": figures,
                "component_seconds": _component_seconds(config, outcome.run_id),
                "error": outcome.error,
            }
        )
    )


def _component_seconds(config, run_id: str) -> dict:
    """Per-component wall time, from the timings file the local runner writes."""
    from t2i import local_runner

    path = local_runner.timings_path(os.path.abspath(config.pipeline.root), run_id)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = json.load(f)["components"]
    return {row["component"]: row["seconds"] for row in rows}


if __name__ == "__main__":
    main()
