"""The compiled Kubeflow specs of the product's full and rebuild DAGs, executed task by task
by tests/kfp_emulator.py (a stand-in for KFP's driver and launcher: no cluster can run
here), in processes whose only project code is the wheel built from this repository; then
compared with the local runs (LocalDagRunner, conftest.e2e_runs) of the same settings on
the same data.

One module-scoped run sequence feeds every test (each task is a fresh process importing
TFX): the full DAG to pushed version 1, a new span (t2i.sample_data.add_span), the rebuild
DAG to pushed version 2. The tests only read what it left.

Cost: 22 container processes plus the ExampleGen driver twice, each paying TFX's
entrypoint imports (~30 s of CPU measured at load 1.5-2; our executors add <= 0.2 s), so
even two at a time the sequence cannot fit a 240 s budget: it took 1,790 s at load 4-10.
The whole DAG is kept rather than a subset, as the slow end-to-end proof of the Kubeflow
path.

What is emulated faithfully: each container task's command and arguments exactly as the
spec has them, with the ExecutorInput a KFP v2 launcher builds; the ExampleGen driver's
preCacheCheck (TFX's span resolution) before CocoExampleGen's executor; the Conds' CEL
conditions on the producers' output metadata.

What is not (kfp_emulator's docstring; README, "Scaling out"):
- Resolver nodes (LatestBlessedModel's two resolver tasks, LatestEmbeddings,
  LatestSearcher) run on Vertex AI against Vertex ML Metadata; open-source KFP does not
  run them at all. The emulator answers their compiled queries from its own record of
  what earlier tasks produced: a model of Vertex's query semantics, not Vertex's code.
- The ExampleGen driver runs as its own process before the executor, as Vertex's
  preCacheCheck hook does, but without Vertex's cache lookup around it.
- No caching, retries, pods or per-task images; at most two tasks at once (2 cores),
  where KFP would start every ready task.
"""

import json
import os

import pytest

from conftest import E2E_NEW_SPAN_IMAGES, E2E_SEED, E2E_SETTINGS, E2E_SPAN_IMAGES, REPO_ROOT
from kfp_emulator import Emulator, build_wheel, install_wheel

pytestmark = pytest.mark.slow

# Text-to-image recall@10 on the eval split of a few dozen images: one query more or
# less in the top 10 moves it by 1/queries. The trainer is seeded but not bit-exact
# across processes (TF's thread pools reorder float sums), so two trainings of the same
# model on the same data differ by a few queries; the validator's threshold (0.9) is the
# contract both runs must meet.
RECALL_TOLERANCE = 0.1


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """The component image's project code: the repository's wheel, installed --no-deps."""
    root = tmp_path_factory.mktemp("image")
    wheel = build_wheel(REPO_ROOT, str(root / "dist"))
    target = root / "opt" / "t2i-searcher"
    install_wheel(wheel, str(target))
    return str(target)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory, image_dir):
    """The full DAG's spec run to version 1, a new span, the rebuild DAG's spec run to
    version 2: (image_dir, {kind: compiled task names}, {kind: RunResult}); no rebuild
    when the full run failed."""
    from t2i import sample_data
    from t2i.configs import load_config
    from t2i.kubeflow import compiler

    base = tmp_path_factory.mktemp("kfp")
    data_dir = str(base / "data")
    sample_data.generate(data_dir, num_images=E2E_SPAN_IMAGES, seed=E2E_SEED, spans=2)
    config = load_config(
        None,
        [
            f"kubeflow.pipeline_root={base / 'kfp-root'}",
            f"kubeflow.data_dir={data_dir}",
            f"kubeflow.serving_dir={base / 'kfp-serving'}",
            f"kubeflow.code_root={image_dir}",
            "kubeflow.image=t2i-searcher:test",
            *E2E_SETTINGS,
        ],
    )
    specs = {
        kind: compiler.compile_pipeline(config, kind, out=str(base / "spec" / f"{kind}.yaml"))
        for kind in ("full", "rebuild")
    }
    emulator = Emulator(str(base / "kfp-root"), image_dir, str(base / "harness"))
    runs = {"full": emulator.run(specs["full"].yaml_path, "run-1")}
    if runs["full"].succeeded:
        sample_data.add_span(data_dir, E2E_NEW_SPAN_IMAGES, seed=E2E_SEED)
        runs["rebuild"] = emulator.run(specs["rebuild"].yaml_path, "run-2")
    for kind, run in runs.items():
        print(
            f"emulated KFP {kind} task seconds (load average {os.getloadavg()[0]:.1f}):",
            json.dumps({name: round(t.seconds, 1) for name, t in run.tasks.items()}),
        )
    return image_dir, {kind: specs[kind].tasks for kind in specs}, runs


def _failure(run) -> str:
    failed = [t for t in run.tasks.values() if t.state == "FAILED"]
    return failed[0].reason if failed else ""


def _metadata(run, task: str, key: str) -> dict:
    return run.tasks[task].outputs[key][0]["metadata"]


def _local_figures(config, outcome) -> dict:
    """{node: {output key: custom properties}} of a local run, from its ML Metadata."""
    from t2i import mlmd

    store = mlmd.connect(config.pipeline.root)
    return {
        node.node_id: {k: mlmd.custom_properties(a[0]) for k, a in node.outputs.items() if a}
        for node in mlmd.run_executions(store, outcome.run_id)
    }


def test_every_task_of_both_dags_runs_from_the_wheel(emulated):
    image_dir, compiled_tasks, runs = emulated
    assert set(runs) == {"full", "rebuild"}, _failure(runs["full"])
    for kind, run in runs.items():
        assert not _failure(run), f"{kind}: {_failure(run)}"
        assert set(run.tasks) == set(compiled_tasks[kind]), kind
        assert {t.state for t in run.tasks.values()} == {"SUCCEEDED"}, {
            name: (t.state, t.reason) for name, t in run.tasks.items()
        }
        # The project's own tasks imported the project from the wheel's target dir only.
        for name, task in run.tasks.items():
            for module, path in task.imports.items():
                assert path is None or path.startswith(image_dir + os.sep), (name, module, path)
        assert run.tasks["DataGate"].imports, "no import record from DataGate's process"


COUNTS = (
    ("CocoExampleGen", "examples", "spans_ingested"),
    ("CocoExampleGen", "examples", "images_ingested"),
    ("CocoExampleGen", "examples", "split_train_count"),
    ("CocoExampleGen", "examples", "split_eval_count"),
    ("CocoExampleGen", "examples", "split_index_count"),
    ("ImageEmbedder", "embeddings", "count"),
    ("SearcherBuilder", "searcher", "num_items"),
)
RECALLS = (("SearcherValidator", "blessing", "recall_at_10"),)
EVALUATION = (
    ("RetrievalEvaluator", "evaluation", "eval_images"),
    ("RetrievalEvaluator", "evaluation", "eval_captions"),
)
EVALUATOR_RECALL = (("RetrievalEvaluator", "evaluation", "text_to_image_recall_at_10"),)


def _side_by_side(run, local: dict, figures) -> dict:
    """{task.figure: [emulated, local]}, printed before any assertion reads it."""
    pairs = {
        f"{task}.{name}": [_metadata(run, task, key).get(name), local[task][key].get(name)]
        for task, key, name in figures
    }
    print(f"{run.run_id} emulated vs local:", json.dumps(pairs))
    return pairs


def test_the_full_dag_pushes_version_1_with_the_local_runs_counts_and_recall(emulated, e2e_runs):
    _, _, runs = emulated
    run = runs["full"]
    assert not _failure(run), _failure(run)
    config, outcomes = e2e_runs
    local = _local_figures(config, outcomes["first"][0])
    pairs = _side_by_side(run, local, COUNTS + EVALUATION + EVALUATOR_RECALL + RECALLS)

    # Same data, same split rule, same settings: the same counts. The spans ingested show
    # TFX's driver hook resolved them before the executor ran (preCacheCheck).
    for figure, (emulated_value, local_value) in pairs.items():
        if "recall" not in figure:
            assert emulated_value == local_value, figure
    assert pairs["ImageEmbedder.count"][0] == E2E_SPAN_IMAGES
    for figure in (
        "RetrievalEvaluator.text_to_image_recall_at_10",
        "SearcherValidator.recall_at_10",
    ):
        emulated_value, local_value = pairs[figure]
        assert abs(emulated_value - local_value) <= RECALL_TOLERANCE, figure
    assert pairs["SearcherValidator.recall_at_10"][0] >= 0.9

    pushed = _metadata(run, "SearcherPusher", "pushed_model")
    assert pushed["pushed"] == 1 and pushed["version"] == 1
    assert os.path.isfile(os.path.join(pushed["pushed_destination"], "searcher.tflite"))


def test_the_rebuild_dag_adds_the_new_span_and_pushes_version_2(emulated, e2e_runs):
    _, _, runs = emulated
    full, run = runs["full"], runs.get("rebuild")
    assert run, f"full run failed: {_failure(full)}"
    assert not _failure(run), _failure(run)
    config, outcomes = e2e_runs
    local = _local_figures(config, outcomes["rebuild"][0])
    pairs = _side_by_side(run, local, COUNTS + RECALLS)

    # The model the rebuild embeds with is the full run's blessed model, found by
    # LatestBlessedModel's query on the blessing's current_model_id.
    model = run.tasks["LatestBlessedModel-model-resolver"].outputs["model"]
    assert [a["uri"] for a in model] == [full.tasks["Trainer"].outputs["model"][0]["uri"]]

    for figure, (emulated_value, local_value) in pairs.items():
        if "recall" not in figure:
            assert emulated_value == local_value, figure
    assert pairs["CocoExampleGen.images_ingested"][0] == E2E_NEW_SPAN_IMAGES
    assert pairs["ImageEmbedder.count"][0] == E2E_SPAN_IMAGES + E2E_NEW_SPAN_IMAGES
    emulated_recall, local_recall = pairs["SearcherValidator.recall_at_10"]
    assert emulated_recall >= 0.9
    assert abs(emulated_recall - local_recall) <= RECALL_TOLERANCE

    pushed = _metadata(run, "SearcherPusher", "pushed_model")
    assert pushed["pushed"] == 1 and pushed["version"] == 2
