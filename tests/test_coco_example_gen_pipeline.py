"""CocoExampleGen as a real TFX component under LocalDagRunner: report and counts in ML
Metadata, standard components reading its output, and the cache honouring span semantics
(unchanged input is cached; a new span or changed annotations run it again)."""

import json
import os

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.coco_example_gen.component import CocoExampleGen
from components.coco_example_gen.options import DataOptions
from components.common import formats
from t2i import configs, sample_data

pytestmark = pytest.mark.slow

_STATES = {value: name for name, value in metadata_store_pb2.Execution.State.items()}


class LocalPipeline:
    """One pipeline root and metadata store, run again and again like a scheduled job."""

    def __init__(self, root, data_dir, spans, with_statistics=False):
        from tfx.orchestration import metadata

        self.root, self.data_dir, self.spans = str(root), str(data_dir), spans
        self.with_statistics = with_statistics
        self.connection = metadata.sqlite_metadata_connection_config(
            os.path.join(self.root, "metadata.sqlite")
        )

    def run(self) -> None:
        from tfx import v1 as tfx
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        example_gen = CocoExampleGen(
            DataOptions(data_dir=self.data_dir, spans=self.spans, eval_fraction=0.25)
        )
        components = [example_gen]
        if self.with_statistics:
            components.append(
                tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
            )
        LocalDagRunner().run(
            tfx.dsl.Pipeline(
                pipeline_name="coco-ingest-test",
                pipeline_root=os.path.join(self.root, "pipeline"),
                components=components,
                enable_cache=True,
                metadata_connection_config=self.connection,
            )
        )

    def store(self) -> metadata_store.MetadataStore:
        return metadata_store.MetadataStore(self.connection)

    def states(self, component: str) -> list:
        store = self.store()
        executions = store.get_executions_by_type(_execution_type(store, component))
        return [_STATES[e.last_known_state] for e in sorted(executions, key=lambda e: e.id)]

    def examples(self) -> list:
        return sorted(self.store().get_artifacts_by_type("Examples"), key=lambda a: a.id)


def _execution_type(store, component: str) -> str:
    (name,) = [t.name for t in store.get_execution_types() if t.name.endswith(component)]
    return name


def _int(artifact, name: str) -> int:
    return artifact.custom_properties[name].int_value


def test_latest_span_runs_once_is_cached_then_reruns_for_a_new_span(tmp_path):
    data = tmp_path / "data"
    sample_data.generate(str(data), num_images=24, seed=2, spans=2)
    job = LocalPipeline(tmp_path / "runs", data, spans="latest", with_statistics=True)

    job.run()
    (examples,) = job.examples()
    assert job.states("CocoExampleGen") == job.states("StatisticsGen") == ["COMPLETE"]
    assert _int(examples, "span") == 2
    assert json.loads(examples.properties["split_names"].string_value) == list(formats.SPLITS)
    with open(os.path.join(examples.uri, formats.INGEST_REPORT)) as f:
        report = json.load(f)
    assert report["images"]["seen"] == _int(examples, "images_seen") == 12
    assert report["images"]["ingested"] == _int(examples, "images_ingested") == 12
    assert report["captions"]["kept"] == _int(examples, "captions_kept") == 60
    assert _int(examples, "images_skipped_missing") == 0
    for split in formats.SPLITS:
        assert report["splits"][split] == _int(examples, f"split_{split}_count")
    assert examples.custom_properties["input_fingerprint"].string_value
    statistics_dir = os.path.join(tmp_path, "runs", "pipeline", "StatisticsGen", "statistics")
    (run_dir,) = os.listdir(statistics_dir)
    assert sorted(os.listdir(os.path.join(statistics_dir, run_dir))) == [
        f"Split-{split}" for split in sorted(formats.SPLITS)
    ]

    job.run()  # nothing new arrived
    assert job.states("CocoExampleGen") == job.states("StatisticsGen") == ["COMPLETE", "CACHED"]
    assert len(job.examples()) == 1

    sample_data.add_span(str(data), 5, seed=2)
    job.run()
    assert job.states("CocoExampleGen") == ["COMPLETE", "CACHED", "COMPLETE"]
    assert job.states("StatisticsGen") == ["COMPLETE", "CACHED", "COMPLETE"]
    newest = job.examples()[-1]
    assert (_int(newest, "span"), _int(newest, "images_ingested")) == (3, 5)


def test_all_spans_rerun_when_annotations_change(tmp_path):
    data = tmp_path / "data"
    sample_data.generate(str(data), num_images=10, seed=4, spans=2)
    job = LocalPipeline(tmp_path / "runs", data, spans="all")
    job.run()
    job.run()
    assert job.states("CocoExampleGen") == ["COMPLETE", "CACHED"]
    assert _int(job.examples()[0], "images_ingested") == 10

    path = data / "span-1" / "annotations" / "captions_train2017.json"
    document = json.loads(path.read_text())
    document["annotations"] = document["annotations"][:-1]
    path.write_text(json.dumps(document))
    job.run()
    assert job.states("CocoExampleGen") == ["COMPLETE", "CACHED", "COMPLETE"]
    newest = job.examples()[-1]
    assert (_int(newest, "span"), _int(newest, "captions_kept")) == (0, 49)
    assert newest.custom_properties["spans_ingested"].string_value == "1,2"


def test_component_parameters_come_from_the_data_config(tmp_path):
    data_config = DataOptions(
        data_dir=str(tmp_path), split="coco", spans="latest", max_image_pixels=1000
    )
    component = CocoExampleGen.from_config(data_config)
    parameters = component.exec_properties
    assert parameters["input_base"] == str(tmp_path)
    assert (parameters["split_mode"], parameters["max_image_pixels"]) == ("coco", 1000)
    assert parameters["code_version"].startswith("0.1.0+")
    assert [split["pattern"] for split in json.loads(parameters["input_config"])["splits"]] == [
        "span-{SPAN}/annotations/captions_*.json"
    ]
    # Checked before the DAG is built, where the config is loaded.
    with pytest.raises(ValueError, match="split mode"):
        configs.load_config(overrides=[f"data.data_dir={tmp_path}", "data.split=shuffle"])
