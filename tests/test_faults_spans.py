"""Issue 15 case 5: a new span's image ids against the index. The same file again is
counted as already indexed; an indexed id on another file stops the rebuild naming both;
`t2i sample-data --add-span` makes a valid next span. Real Beam runs of the ImageEmbedder
on fixture Examples and the fixture model; the whole rebuild is in test_faults_pipeline.py."""

import json
import os
import subprocess
import sys

import image_embedder_fixtures as fx
import pytest
import tensorflow as tf
from model_fixtures import build_fixture_model
from searcher_fixtures import REPO_ROOT

from components.common import formats, item_metadata
from components.image_embedder.work import EmbedderError, embed_images


@pytest.fixture(scope="module")
def serving_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    return build_fixture_model(str(root / "Format-Serving"), ["a red square", "a blue circle"])


def _index_split(examples_dir, files: dict[int, str]) -> str:
    """Split-index with one example per {image id: file name}."""
    split_dir = os.path.join(str(examples_dir), f"Split-{formats.SPLIT_INDEX}")
    os.makedirs(split_dir, exist_ok=True)
    with tf.io.TFRecordWriter(
        os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"), options="GZIP"
    ) as writer:
        for image_id, name in sorted(files.items()):
            example = tf.train.Example.FromString(fx.example(image_id, fx.jpeg(image_id)))
            features = example.features.feature
            features[formats.FEATURE_FILE_NAME].bytes_list.value[:] = [name.encode()]
            features[formats.FEATURE_METADATA].bytes_list.value[:] = [
                item_metadata.ItemMetadata(image_id, name).encode()
            ]
            writer.write(example.SerializeToString())
    return os.path.join(split_dir, "*")


def test_known_ids_same_file_counted_other_file_names_both(tmp_path, serving_dir):
    first = {i: f"span-1/train2017/{i:012d}.jpg" for i in range(1, 7)}
    out1 = str(tmp_path / "e1")
    embed_images(_index_split(tmp_path / "x1", first), serving_dir, out1, model_artifact_id=3)

    again = {5: first[5], 6: first[6], 7: "span-2/train2017/000000000007.jpg"}
    out2 = str(tmp_path / "e2")
    summary = embed_images(
        _index_split(tmp_path / "x2", again),
        serving_dir,
        out2,
        model_artifact_id=3,
        previous_embeddings_uri=out1,
    )
    assert (summary["count"], summary["embedded_new"], summary["reused"]) == (7, 1, 2)

    clash = {3: "span-3/train2017/000000000003.jpg", 8: "span-3/train2017/000000000008.jpg"}
    with pytest.raises(EmbedderError) as error:
        embed_images(
            _index_split(tmp_path / "x3", clash),
            serving_dir,
            str(tmp_path / "e3"),
            model_artifact_id=3,
            previous_embeddings_uri=out2,
        )
    message = str(error.value)
    assert message.startswith("1 image(s) in ")
    assert (
        "image id 3 is indexed as 'span-1/train2017/000000000003.jpg', and "
        "'span-3/train2017/000000000003.jpg' has it too"
    ) in message
    assert "`t2i sample-data --add-span`" in message
    assert not os.path.exists(os.path.join(str(tmp_path / "e3"), formats.EMBEDDINGS_SUMMARY))


def test_sample_data_add_span_makes_the_next_span_with_new_ids(tmp_path):
    cli = [os.path.join(os.path.dirname(sys.executable), "t2i"), "sample-data"]
    data = str(tmp_path / "data")

    def run(*args):
        return subprocess.run(
            [*cli, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
        )

    assert run("--out", data, "--spans", "2", "--images", "10").returncode == 0
    result = run("--out", data, "--add-span", "--images", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"sample-data: 4 images with new ids 11..14 in {os.path.join(data, 'span-3')}"
    )
    ids = []
    for split in ("train2017", "val2017"):
        path = os.path.join(data, "span-3", "annotations", f"captions_{split}.json")
        ids += [image["id"] for image in json.load(open(path))["images"]]
    assert sorted(ids) == [11, 12, 13, 14]

    single = str(tmp_path / "single")
    assert run("--out", single, "--images", "3").returncode == 0
    result = run("--out", single, "--add-span", "--images", "2")
    assert result.returncode == 1
    assert "holds one collection, not span-<N>/ folders" in result.stderr
