"""Pusher: versioned, atomic publication of blessed searchers; nothing for unblessed ones."""

import json
import os

import pytest

from components.common import formats, serving
from searcher_fixtures import make_searcher_dir


def test_push_versions_increase_and_latest_moves(tmp_path):
    from components.searcher_pusher.executor import push_searcher

    searcher = make_searcher_dir(tmp_path / "searcher")
    blessing = tmp_path / "blessing"
    blessing.mkdir()
    (blessing / formats.VALIDATION_SUMMARY).write_text('{"recall_at_10": 0.97}')
    serving_dir = str(tmp_path / "serving")

    assert push_searcher(searcher, str(blessing), True, serving_dir, {"run": "a"})[0] == 1
    version, directory = push_searcher(searcher, str(blessing), True, serving_dir, {"run": "b"})
    assert version == 2
    assert serving.list_versions(serving_dir) == [1, 2]
    assert serving.resolve(serving_dir) == os.path.realpath(directory)
    with open(os.path.join(directory, serving.VERSION_FILE)) as f:
        assert json.load(f) == {"run": "b", "version": 2}
    assert sorted(os.listdir(directory)) == sorted(
        [
            formats.SEARCHER_TFLITE,
            formats.IMAGE_SEARCHER_TFLITE,
            formats.SEARCHER_SUMMARY,
            formats.VALIDATION_SUMMARY,
            serving.VERSION_FILE,
            serving.MANIFEST_FILE,
        ]
    )
    # No staging leftovers, and `latest` is a symlink switched by rename.
    assert sorted(os.listdir(serving_dir)) == ["1", "2", "latest"]
    assert os.readlink(os.path.join(serving_dir, "latest")) == "2"


def test_unblessed_searcher_is_not_pushed(tmp_path):
    from components.searcher_pusher.executor import push_searcher

    searcher = make_searcher_dir(tmp_path / "searcher")
    assert push_searcher(searcher, str(tmp_path), False, str(tmp_path / "serving"), {}) is None
    assert not os.path.exists(tmp_path / "serving")


def test_a_taken_version_number_is_skipped(tmp_path):
    serving_dir = tmp_path / "serving"
    (serving_dir / "1").mkdir(parents=True)
    (serving_dir / "1" / "x").write_text("someone else's")
    source = tmp_path / "f.tflite"
    source.write_bytes(b"x")
    version, _ = serving.publish({"searcher.tflite": str(source)}, str(serving_dir), {})
    assert version == 2
    assert (serving_dir / "1" / "x").read_text() == "someone else's"


def test_missing_searcher_file_is_an_error(tmp_path):
    from components.searcher_pusher.executor import push_searcher

    (tmp_path / "searcher").mkdir()
    with pytest.raises(FileNotFoundError, match="searcher.tflite"):
        push_searcher(str(tmp_path / "searcher"), str(tmp_path), True, str(tmp_path / "s"), {})


def test_resolve_errors(tmp_path):
    with pytest.raises(serving.ServingError, match="nothing pushed yet"):
        serving.resolve(str(tmp_path))
    with pytest.raises(serving.ServingError, match="no version 3"):
        serving.resolve(str(tmp_path), "3")


def test_pusher_in_a_local_dag_run_records_the_version(tmp_path):
    """The real component under LocalDagRunner; Importers stand in for the upstream steps."""
    from tfx import v1 as tfx

    from components.common.artifacts import Searcher, SearcherBlessing
    from components.searcher_pusher.component import SearcherPusher
    from t2i import local_runner, mlmd
    from t2i.paths import Paths

    root = str(tmp_path / "runs")
    searcher = tfx.dsl.Importer(
        source_uri=make_searcher_dir(tmp_path / "searcher"), artifact_type=Searcher
    ).with_id("SearcherImporter")
    blessing = tfx.dsl.Importer(
        source_uri=str(tmp_path), artifact_type=SearcherBlessing, custom_properties={"blessed": 1}
    ).with_id("BlessingImporter")
    pusher = SearcherPusher(
        searcher=searcher.outputs["result"],
        searcher_blessing=blessing.outputs["result"],
        serving_dir=str(tmp_path / "serving"),
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="pusher-test",
        pipeline_root=os.path.join(root, "pipelines"),
        components=[searcher, blessing, pusher],
        enable_cache=True,
        metadata_connection_config=mlmd.sqlite_connection_config(root),
    )

    config_json = '{"pusher": {"serving_dir": "somewhere"}}'
    first = local_runner.run_pipeline(pipeline, root, config_json, run_id="run-1")
    assert first.succeeded, first.error
    assert [c.status for c in first.components] == ["done", "done", "done"]
    store = mlmd.connect(root)
    (push,) = [n for n in mlmd.run_executions(store, "run-1") if n.node_id == "SearcherPusher"]
    pushed = mlmd.custom_properties(push.outputs["pushed_model"][0])
    assert pushed["pushed"] == 1 and pushed["version"] == 1
    # The effective config is recorded on the run's context and next to its log.
    recorded = mlmd.run_context(store, "run-1").custom_properties[local_runner.CONFIG_PROPERTY]
    assert recorded.string_value == config_json
    with open(Paths.of(root).run_log("run-1", ".config.json")) as f:
        assert f.read() == config_json
    assert os.path.exists(first.log_path)

    second = local_runner.run_pipeline(pipeline, root, '{"a": 1}', run_id="run-2")
    assert second.succeeded, second.error
    assert [c.status for c in second.components][-1] == "cached"
    assert serving.list_versions(str(tmp_path / "serving")) == [1]
