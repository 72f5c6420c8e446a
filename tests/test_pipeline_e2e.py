"""The whole thing, end to end, on one real store: the full DAG on a small two-span sample,
an unchanged re-run, a new span through the rebuild DAG, a tick with nothing new; then
the pushed searchers through the real Task Library (TF-free CLI), lineage and diff.

One session-scoped run sequence (conftest.e2e_runs) feeds every test here (each pipeline
run costs tens of seconds on 2 cores); the tests only read what it left.
"""

import json
import os
import subprocess

import pytest

from conftest import E2E_NEW_SPAN_IMAGES as NEW_SPAN_IMAGES
from conftest import E2E_SPAN_IMAGES as SPAN_IMAGES
from conftest import VENV_BIN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(e2e_runs):
    """The run sequence of conftest.e2e_runs (shared with the web app's tests)."""
    return e2e_runs


def t2i(*args):
    result = subprocess.run(
        [os.path.join(VENV_BIN, "t2i"), *args], capture_output=True, text=True, timeout=300
    )
    return result


def statuses(outcome):
    from t2i import local_runner

    with open(
        local_runner.timings_path(outcome.log_path.rsplit("/logs/", 1)[0], outcome.run_id)
    ) as f:
        return {row["component"]: row["status"] for row in json.load(f)["components"]}


def test_first_run_produces_sane_artifacts_and_pushes_version_1(runs):
    config, outcomes = runs
    outcome, printed = outcomes["first"]
    assert outcome.succeeded, printed
    assert outcome.pushed[0] == 1
    assert set(statuses(outcome).values()) == {"done"}
    assert "[13/13] SearcherPusher" in printed and "pushed searcher version 1" in printed
    assert os.path.exists(outcome.report_path)
    report = open(outcome.report_path).read()
    assert "<svg" in report and "RetrievalEvaluator" in report and "data:image/png" in report

    from t2i import mlmd

    store = mlmd.connect(config.pipeline.root)
    figures = {
        n.node_id: {k: mlmd.custom_properties(a[0]) for k, a in n.outputs.items()}
        for n in mlmd.run_executions(store, outcome.run_id)
    }
    examples = figures["CocoExampleGen"]["examples"]
    assert examples["images_ingested"] == SPAN_IMAGES and examples["images_skipped"] == 0
    assert examples["spans_ingested"] == "1,2"
    assert figures["ImageEmbedder"]["embeddings"]["count"] == SPAN_IMAGES
    assert figures["ImageEmbedder"]["embeddings"]["max_span"] == 2
    assert figures["SearcherBuilder"]["searcher"]["num_items"] == SPAN_IMAGES
    assert figures["SearcherValidator"]["blessing"]["recall_at_10"] >= 0.9
    assert 0.0 <= figures["RetrievalEvaluator"]["evaluation"]["text_to_image_recall_at_10"] <= 1.0
    recorded = json.loads(
        store.get_context_by_type_and_name("pipeline_run", outcome.run_id)
        .custom_properties["t2i_config"]
        .string_value
    )
    assert recorded["trainer"]["epochs"] == 3


def test_unchanged_rerun_is_fully_cached_and_pushes_nothing(runs):
    _, outcomes = runs
    outcome, printed = outcomes["again"]
    assert outcome.succeeded, printed
    components = statuses(outcome)
    # The resolver node always executes (it only reads ML Metadata); every component is cached.
    assert {s for c, s in components.items() if c != "BaselineModel"} == {"cached"}
    assert outcome.pushed[0] == 1  # the cached pusher's record of version 1, no new version


def test_rebuild_indexes_exactly_the_new_span_without_retraining(runs):
    config, outcomes = runs
    outcome, printed = outcomes["rebuild"]
    assert outcome.succeeded, printed
    assert outcome.pushed[0] == 2
    components = statuses(outcome)
    assert "Trainer" not in components
    # The full run's export of the same model is reused.
    assert components["TextEncoderExporter"] == "cached"
    from t2i import mlmd

    store = mlmd.connect(config.pipeline.root)
    (embedder,) = [
        n for n in mlmd.run_executions(store, outcome.run_id) if n.node_id == "ImageEmbedder"
    ]
    embeddings = mlmd.custom_properties(embedder.outputs["embeddings"][0])
    assert embeddings["embedded_new"] == NEW_SPAN_IMAGES
    assert embeddings["count"] == SPAN_IMAGES + NEW_SPAN_IMAGES
    assert embeddings["max_span"] == 3
    assert (
        f"index {SPAN_IMAGES:,} -> {SPAN_IMAGES + NEW_SPAN_IMAGES:,} items "
        f"({NEW_SPAN_IMAGES} new, 0 already indexed)"
    ) in printed  # issue 15 case 5
    # The index was extended with the new items, not retrained.
    (builder,) = [
        n for n in mlmd.run_executions(store, outcome.run_id) if n.node_id == "SearcherBuilder"
    ]
    searcher = mlmd.custom_properties(builder.outputs["searcher"][0])
    assert searcher["incremental"] == 1 and searcher["num_items"] == SPAN_IMAGES + NEW_SPAN_IMAGES
    (previous,) = builder.inputs["previous_searcher"]
    assert mlmd.custom_properties(previous)["num_items"] == SPAN_IMAGES
    # Nothing is trained, so only the index split (every image) is checked.
    (statistics_gen,) = [
        n for n in mlmd.run_executions(store, outcome.run_id) if n.node_id == "StatisticsGen"
    ]
    split_names = statistics_gen.outputs["statistics"][0].properties["split_names"]
    assert json.loads(mlmd.property_value(split_names)) == ["index"]


def test_a_tick_with_nothing_new_skips_the_index_build(runs):
    _, outcomes = runs
    outcome, printed = outcomes["nothing_new"]
    assert outcome.succeeded, printed
    assert outcome.pushed is None
    components = statuses(outcome)
    assert components["ImageEmbedder"] == "skipped" and components["SearcherPusher"] == "skipped"
    # The model did not change, so its TFLite export is reused, not redone.
    assert components["TextEncoderExporter"] == "cached"


def test_pushed_searcher_answers_through_the_task_library(runs):
    config, _ = runs
    result = t2i(
        "search",
        "a red circle on a beige background",
        "-k",
        "5",
        "--json",
        "--root",
        config.pipeline.root,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    hits = answer["results"]
    assert len(hits) == 5
    assert all(1 <= hit["image_id"] <= SPAN_IMAGES + NEW_SPAN_IMAGES for hit in hits)
    assert all(os.path.exists(os.path.join(config.data.data_dir, hit["file_name"])) for hit in hits)
    similarities = [hit["similarity"] for hit in hits]
    assert similarities == sorted(similarities, reverse=True)


def test_runs_and_lineage_reach_the_data_spans(runs, tmp_path):
    config, outcomes = runs
    root = config.pipeline.root
    listing = t2i("runs", "--root", root, "--json")
    rows = json.loads(listing.stdout)
    assert [r["run"] for r in rows] == [
        outcomes[n][0].run_id for n in ("first", "again", "rebuild", "nothing_new")
    ]
    assert [r["pushed_version"] for r in rows] == [1, 1, 2, None]

    lineage = t2i("lineage", "v2", "--root", root, "--format", "json")
    assert lineage.returncode == 0, lineage.stderr
    graph = json.loads(lineage.stdout)
    types = {a["type"] for a in graph["artifacts"]}
    assert {"PushedModel", "t2i.Searcher", "t2i.Embeddings", "Model", "Examples"} <= types
    spans = {
        a["properties"].get("spans_ingested") for a in graph["artifacts"] if a["type"] == "Examples"
    }
    assert {"1,2", "3"} <= spans  # the previous embeddings' data and the new span
    text = t2i("lineage", "latest", "--root", root).stdout
    assert "made by SearcherPusher" in text and "made by Trainer" in text

    png, html = tmp_path / "l.png", tmp_path / "l.html"
    assert (
        t2i("lineage", "v1", "--root", root, "--format", "png", "--out", str(png)).returncode == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert (
        t2i("lineage", "v1", "--root", root, "--format", "html", "--out", str(html)).returncode == 0
    )
    assert "<svg" in html.read_text() and "CocoExampleGen" in html.read_text()
    downstream = t2i("lineage", str(graph["roots"][0]), "--downstream", "--root", root)
    assert downstream.returncode == 0


def test_diff_shows_the_new_items_and_the_unchanged_model(runs):
    config, _ = runs
    result = t2i("diff", "1", "2", "--root", config.pipeline.root)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        "t2i.Searcher.num_items" in line
        and f"{SPAN_IMAGES}  ->  {SPAN_IMAGES + NEW_SPAN_IMAGES}" in line
        for line in lines
    ), result.stdout
    assert any(line.startswith("  data.spans") for line in lines), result.stdout
    assert "Model" in lines[-1]  # listed under "unchanged:"
    assert not any(line.strip().startswith("Model.") for line in lines[1:-1])


@pytest.mark.parametrize(
    "target, message",
    [
        ("999999", "no artifact with id 999999"),
        ("v42", "no pushed version 'v42'"),
        ("not-a-run", "is not an artifact id"),
    ],
)
def test_unknown_lineage_targets_give_clear_errors(runs, target, message):
    config, _ = runs
    result = t2i("lineage", target, "--root", config.pipeline.root)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_remote_metadata_service_gives_the_same_answers_as_the_local_store(runs):
    """Through the gRPC client (what Kubeflow's metadata service is read with), against a
    loopback stand-in serving the same store (tests/mlmd_standin_server.py)."""
    from mlmd_standin_server import serve

    from t2i import mlmd

    config, _ = runs
    root = config.pipeline.root
    server, port = serve(mlmd.sqlite_connection_config(root, readonly=True))
    remote = ["--mlmd-host", "127.0.0.1", "--mlmd-port", str(port)]
    try:
        for command in (
            ["runs", "--json"],
            ["artifacts", "--type", "Searcher"],
            ["lineage", "latest", "--format", "json"],
            ["diff", "1", "2"],
        ):
            local = t2i(*command, "--root", root)
            # A root without a store: only the service can answer.
            answer = t2i(*command, "--root", os.path.dirname(root), *remote)
            assert local.returncode == 0 and answer.returncode == 0, (command, answer.stderr)
            assert answer.stdout == local.stdout, command
    finally:
        server.stop(0)
    unreachable = t2i("runs", "--mlmd-host", "127.0.0.1", "--mlmd-port", str(port))
    assert unreachable.returncode != 0
    assert f"127.0.0.1:{port}" in unreachable.stderr, unreachable.stderr
