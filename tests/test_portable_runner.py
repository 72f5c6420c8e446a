"""CocoExampleGen and ImageEmbedder on Beam's portable runner (a Python job service and an
external worker pool on loopback, tests/portable_beam.py): the same Fn API path as Flink,
Spark and Dataflow v2. Their outputs must equal the DirectRunner's.

The Beam args come from the product's builder (t2i.beam_options), as a run would pass
them; the model is the small fixture dual encoder, pinned here rather than a default tower.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import artifact_utils, standard_artifacts

from components.coco_example_gen.executor import Executor as ExampleGenExecutor
from components.common import embeddings_io, formats
from components.common.artifacts import Embeddings
from components.image_embedder.executor import Executor as EmbedderExecutor
from example_records import coco_example_gen_properties, read_split
from model_fixtures import build_fixture_model
from t2i import beam_options, sample_data
from portable_beam import local_portable_beam

IMAGE = "t2i-searcher:test"


@pytest.fixture(scope="module")
def portable_beam(tmp_path_factory):
    with local_portable_beam(str(tmp_path_factory.mktemp("portable-beam-logs"))) as beam:
        yield beam


def run_example_gen(data_dir: str, out: str, beam_args: list[str]):
    examples = standard_artifacts.Examples()
    examples.uri = out
    context = BaseBeamExecutor.Context(
        beam_pipeline_args=beam_args, tmp_dir=out + ".tmp", unique_id=os.path.basename(out)
    )
    ExampleGenExecutor(context).Do(
        {}, {"examples": [examples]}, coco_example_gen_properties(data_dir, eval_fraction=0.2)
    )
    return examples


def run_embedder(examples, model_dir: str, out: str, beam_args: list[str]):
    model = standard_artifacts.Model()
    model.uri = model_dir
    model.id = 7
    embeddings = Embeddings()
    embeddings.uri = out
    os.makedirs(out, exist_ok=True)
    context = BaseBeamExecutor.Context(
        beam_pipeline_args=beam_args, tmp_dir=out + ".tmp", unique_id=os.path.basename(out)
    )
    EmbedderExecutor(context).Do(
        {"examples": [examples], "model": [model]},
        {"embeddings": [embeddings]},
        {
            "batch_size": 8,
            "num_workers": 0,
            "multiprocessing_min_images": 100_000,
            "incremental": 1,
            "code_version": "test",
        },
    )
    return embeddings


def split_records(examples) -> dict[str, dict[int, tf.train.Example]]:
    """Every split's records by image id."""
    records = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        parsed = read_split(examples.uri, split)
        by_id = {
            e.features.feature[formats.FEATURE_IMAGE_ID].int64_list.value[0]: e for e in parsed
        }
        assert len(by_id) == len(parsed), f"{examples.uri}: duplicate ids in split {split}"
        records[split] = by_id
    return records


@pytest.mark.slow
def test_portable_runner_outputs_equal_the_direct_runners(portable_beam, tmp_path):
    data = tmp_path / "coco"
    sample_data.generate(str(data), num_images=40, seed=3, image_size=48)
    model_dir = tmp_path / "model"
    build_fixture_model(str(model_dir / "Format-Serving"), ["a red square", "a blue circle"])

    direct_args = beam_options.build([], image=IMAGE)
    portable_args = beam_options.build(portable_beam.beam_args, image=IMAGE)
    assert "--environment_type=EXTERNAL" in portable_args
    assert not any(a.startswith("--environment_type=DOCKER") for a in portable_args)

    direct = run_example_gen(str(data), str(tmp_path / "examples-direct"), direct_args)
    portable = run_example_gen(str(data), str(tmp_path / "examples-portable"), portable_args)
    direct_records, portable_records = split_records(direct), split_records(portable)
    assert set(direct_records) == set(formats.SPLITS)
    for split in direct_records:
        assert sorted(direct_records[split]) == sorted(portable_records[split]), split
        for image_id, example in direct_records[split].items():
            assert portable_records[split][image_id] == example, (split, image_id)
    assert len(direct_records[formats.SPLIT_INDEX]) == 40
    for name in ("images_seen", "split_index_count", "split_train_count", "split_eval_count"):
        assert direct.get_int_custom_property(name) == portable.get_int_custom_property(name), name

    direct_embeddings = run_embedder(
        direct, str(model_dir), str(tmp_path / "emb-direct"), direct_args
    )
    portable_embeddings = run_embedder(
        portable, str(model_dir), str(tmp_path / "emb-portable"), portable_args
    )
    a = embeddings_io.read_embeddings(direct_embeddings.uri)
    b = embeddings_io.read_embeddings(portable_embeddings.uri)
    assert len(a) == 40
    assert a.image_ids.tolist() == b.image_ids.tolist()
    assert a.metadata == b.metadata
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5, rtol=0)
    summary = embeddings_io.read_summary(portable_embeddings.uri)
    assert summary["execution"]["mode"] == "distributed"
    assert summary["execution"]["runner"] == "PortableRunner"
    assert summary["dead_letters"] == 0
