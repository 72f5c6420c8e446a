"""The local runner's contract: one line per component, and a run is a success only when
ML Metadata agrees (TFX returns normally when a node fails before its executor starts)."""

import io
import os

from searcher_fixtures import make_searcher_dir


def _pipeline(tmp_path, condition):
    from tfx import v1 as tfx

    from components.common.artifacts import Searcher, SearcherBlessing
    from components.searcher_pusher.component import SearcherPusher
    from t2i import mlmd

    root = str(tmp_path / "runs")
    searcher = tfx.dsl.Importer(
        source_uri=make_searcher_dir(tmp_path / "searcher"), artifact_type=Searcher
    ).with_id("SearcherImporter")
    blessing = tfx.dsl.Importer(
        source_uri=str(tmp_path), artifact_type=SearcherBlessing, custom_properties={"blessed": 1}
    ).with_id("BlessingImporter")
    with tfx.dsl.Cond(condition(blessing.outputs["result"].future()[0])):
        pusher = SearcherPusher(
            searcher=searcher.outputs["result"],
            searcher_blessing=blessing.outputs["result"],
            serving_dir=str(tmp_path / "serving"),
        )
    return root, tfx.dsl.Pipeline(
        pipeline_name="runner-test",
        pipeline_root=os.path.join(root, "pipelines"),
        components=[searcher, blessing, pusher],
        enable_cache=True,
        metadata_connection_config=mlmd.sqlite_connection_config(root),
    )


def test_a_node_failing_before_its_executor_fails_the_run(tmp_path):
    from t2i import local_runner

    # Comparing a property the artifact lacks cannot be evaluated: TFX records the pusher
    # as FAILED without raising.
    root, pipeline = _pipeline(tmp_path, lambda b: b.custom_property("no_such_property") > 0)
    terminal = io.StringIO()
    result = local_runner.run_pipeline(pipeline, root, "{}", terminal=terminal)
    assert not result.succeeded
    assert result.failed_component == "SearcherPusher"
    assert result.error
    assert not os.path.exists(tmp_path / "serving")


def test_skipped_nodes_are_reported_and_the_run_succeeds(tmp_path):
    from t2i import local_runner

    root, pipeline = _pipeline(tmp_path, lambda b: b.custom_property("blessed") == 0)
    terminal = io.StringIO()
    result = local_runner.run_pipeline(pipeline, root, "{}", run_id="r1", terminal=terminal)
    assert result.succeeded, result.error
    lines = terminal.getvalue().splitlines()
    assert (
        len(lines) == 3 and lines[-1].startswith("[ 3/3] SearcherPusher") and "skipped" in lines[-1]
    )
    assert [c.status for c in result.components] == ["done", "done", "skipped"]
    assert all(c.peak_rss_mb > 0 for c in result.components)
    assert os.path.exists(local_runner.timings_path(root, "r1"))
