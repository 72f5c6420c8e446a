"""ImageEmbedder: real Beam pipelines over tiny fixture Examples and the fixture model."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import image_embedder_fixtures as fx
from components.common import embeddings_io, formats, item_metadata
from components.image_embedder.beam_stages import EmbeddingCheckError
from components.image_embedder.work import EmbedderError, embed_images
from model_fixtures import build_fixture_model

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def serving_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    return build_fixture_model(str(root / "Format-Serving"), ["a red square", "a blue circle"])


def images_for(ids):
    return {image_id: fx.jpeg(image_id) for image_id in ids}


def assert_matches_model(uri, serving_dir, images):
    items = embeddings_io.read_embeddings(uri)
    assert items.image_ids.tolist() == sorted(images)
    reference = fx.direct_embeddings(serving_dir, images)
    for image_id, vector, meta in zip(items.image_ids.tolist(), items.vectors, items.metadata):
        np.testing.assert_allclose(
            vector, reference[image_id], atol=TOLERANCE, err_msg=f"image {image_id}"
        )
        assert meta == item_metadata.ItemMetadata(image_id, fx.file_name(image_id)).encode()
    return items.image_ids, items.vectors


def test_embeddings_equal_the_saved_model_by_id(tmp_path, serving_dir):
    images = images_for(range(1, 31))
    pattern = fx.write_index_split(str(tmp_path / "examples"), images, shards=3)
    out = str(tmp_path / "embeddings")

    summary = embed_images(pattern, serving_dir, out, model_artifact_id=7, batch_size=8)

    _, vectors = assert_matches_model(out, serving_dir, images)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    files = [os.path.basename(f) for f in embeddings_io.embedding_files(out)]
    assert files and all(re.fullmatch(r"embeddings-\d{5}-of-\d{5}\.tfrecord\.gz", f) for f in files)
    assert fx.read_dead_letters(out) == [] and os.path.exists(
        os.path.join(out, formats.DEAD_LETTERS)
    )
    assert embeddings_io.read_summary(out) == summary
    assert summary["count"] == summary["input_images"] == summary["embedded_new"] == 30
    assert (
        summary["dim"] == 16 and summary["model_artifact_id"] == 7 and summary["dead_letters"] == 0
    )
    assert abs(summary["norm_min"] - 1) < 1e-5 and abs(summary["norm_max"] - 1) < 1e-5
    assert summary["wall_seconds"] > 0 and summary["images_per_second"] > 0
    execution = summary["execution"]
    assert (execution["mode"], execution["workers"], execution["estimate_exact"]) == (
        "in_memory",
        1,
        True,
    )
    assert "30 images < multiprocessing_min_images=100000" in execution["reason"]
    assert not os.path.exists(os.path.join(out, ".embedder-work"))


def test_corrupt_image_is_dead_lettered_and_counts_reconcile(tmp_path, serving_dir):
    images = images_for(range(1, 21))
    images[5] = fx.CORRUPT_IMAGE
    images[12] = fx.jpeg(12)[:40]  # truncated JPEG
    pattern = fx.write_index_split(str(tmp_path / "examples"), images, shards=1)
    out = str(tmp_path / "embeddings")

    # One batch holds every image: the bad ones must not take the good ones down with them.
    summary = embed_images(pattern, serving_dir, out, batch_size=64)

    dead = fx.read_dead_letters(out)
    assert sorted(d["image_id"] for d in dead) == [5, 12]
    by_id = {d["image_id"]: d for d in dead}
    assert by_id[5]["file_name"] == fx.file_name(5)
    assert "Invalid PNG" in by_id[5]["reason"] and "jpeg" in by_id[12]["reason"].lower()
    assert all("[[" not in d["reason"] and "Graph execution" not in d["reason"] for d in dead)
    good = {k: v for k, v in images.items() if k not in (5, 12)}
    assert_matches_model(out, serving_dir, good)
    assert summary["input_images"] == 20 == summary["count"] + summary["dead_letters"]
    assert summary["dead_letters"] == 2 and sum(summary["dead_letter_reasons"].values()) == 2


def test_malformed_record_is_dead_lettered(tmp_path, serving_dir):
    pattern = fx.write_index_split(str(tmp_path / "examples"), images_for([1, 2]), shards=1)
    no_id = tf.train.Example(
        features=tf.train.Features(
            feature={
                formats.FEATURE_FILE_NAME: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[b"x.jpg"])
                )
            }
        )
    )
    with tf.io.TFRecordWriter(
        str(tmp_path / "examples" / "Split-index" / "extra.gz"), options="GZIP"
    ) as w:
        w.write(no_id.SerializeToString())
    out = str(tmp_path / "embeddings")

    summary = embed_images(pattern, serving_dir, out)

    (dead,) = fx.read_dead_letters(out)
    assert (
        dead["image_id"] is None and dead["file_name"] == "x.jpg" and "image_id" in dead["reason"]
    )
    assert (summary["input_images"], summary["count"], summary["dead_letters"]) == (3, 2, 1)


def test_duplicate_id_fails_the_run_naming_it(tmp_path, serving_dir):
    examples = tmp_path / "examples"
    fx.write_index_split(str(examples), images_for([1, 2, 3]), shards=1)
    # The same id again in a second file.
    with tf.io.TFRecordWriter(str(examples / "Split-index" / "more.gz"), options="GZIP") as w:
        w.write(fx.example(2, fx.jpeg(99)))
    out = str(tmp_path / "embeddings")

    with pytest.raises(EmbedderError, match=r"duplicate image ids .*: 2 \(2x\)"):
        embed_images(str(examples / "Split-index" / "*"), serving_dir, out)
    assert embeddings_io.embedding_files(out) == []
    assert embeddings_io.read_summary(out) is None


def test_incremental_run_embeds_only_new_ids_and_writes_the_union(tmp_path, serving_dir):
    first = images_for(range(1, 21))
    out1 = str(tmp_path / "embeddings-1")
    embed_images(
        fx.write_index_split(str(tmp_path / "span1"), first), serving_dir, out1, model_artifact_id=3
    )
    everything = images_for(range(1, 31))
    pattern = fx.write_index_split(str(tmp_path / "span2"), everything)
    out2 = str(tmp_path / "embeddings-2")

    summary = embed_images(
        pattern, serving_dir, out2, model_artifact_id=3, previous_embeddings_uri=out1
    )

    assert summary["incremental"]["used"], summary["incremental"]["reason"]
    assert (summary["embedded_new"], summary["reused"], summary["count"]) == (10, 20, 30)
    assert (
        summary["input_images"]
        == summary["embedded_new"] + summary["reused"] + summary["dead_letters"]
    )
    assert_matches_model(out2, serving_dir, everything)


def test_incremental_run_carries_previous_rows_over_unchanged(tmp_path, serving_dir):
    # Previous rows that the model would never produce: if they come out unchanged, they
    # were reused, not recomputed. Id 99 is no longer in the input and is kept (the union).
    previous = str(tmp_path / "previous")
    old_ids = [1, 2, 3, 99]
    rng = np.random.default_rng(0)
    old_vectors = rng.normal(size=(4, 16)).astype(np.float32)
    old_vectors /= np.linalg.norm(old_vectors, axis=1, keepdims=True)
    # Ids 1-3 are the same files again (already indexed); 99's metadata is opaque bytes.
    old_metadata = [item_metadata.ItemMetadata(i, fx.file_name(i)).encode() for i in old_ids[:3]]
    embeddings_io.write_embeddings(
        previous,
        old_ids,
        old_vectors,
        old_metadata + [b"old-99"],
        summary={"count": 4, "dim": 16, "model": {"artifact_id": 3, "uri": serving_dir}},
    )
    images = images_for(range(1, 7))
    out = str(tmp_path / "embeddings")

    summary = embed_images(
        fx.write_index_split(str(tmp_path / "examples"), images),
        serving_dir,
        out,
        model_artifact_id=3,
        previous_embeddings_uri=previous,
    )

    items = embeddings_io.read_embeddings(out)
    assert items.image_ids.tolist() == [1, 2, 3, 4, 5, 6, 99]
    np.testing.assert_array_equal(items.vectors[[0, 1, 2, 6]], old_vectors)
    assert items.metadata[6] == b"old-99"
    reference = fx.direct_embeddings(serving_dir, {i: images[i] for i in (4, 5, 6)})
    for row, image_id in zip(items.vectors[3:6], (4, 5, 6)):
        np.testing.assert_allclose(row, reference[image_id], atol=TOLERANCE)
    assert (summary["embedded_new"], summary["reused"], summary["count"]) == (3, 3, 7)
    assert summary["incremental"]["previous_rows_not_in_input"] == 1
    # The previous shard is copied byte for byte, not re-encoded.
    (previous_shard,) = embeddings_io.embedding_files(previous)
    carried = [f for f in embeddings_io.embedding_files(out) if "carried" in f]
    assert [open(f, "rb").read() for f in carried] == [open(previous_shard, "rb").read()]

    # A rebuild of a rebuild: both generations' shards are carried, none overwritten.
    later = images_for(range(1, 9))
    out_later = str(tmp_path / "embeddings-later")
    summary = embed_images(
        fx.write_index_split(str(tmp_path / "later"), later),
        serving_dir,
        out_later,
        model_artifact_id=3,
        previous_embeddings_uri=out,
    )
    assert (summary["embedded_new"], summary["reused"], summary["count"]) == (2, 6, 9)
    assert embeddings_io.read_embeddings(out_later).image_ids.tolist() == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        99,
    ]


def test_a_previous_artifact_breaking_the_unit_norm_contract_is_not_reused(tmp_path, serving_dir):
    previous = str(tmp_path / "previous")
    vectors = np.eye(2, 16, dtype=np.float32)
    vectors[1] *= 2.0
    embeddings_io.write_embeddings(
        previous,
        [1, 2],
        vectors,
        [b"a", b"b"],
        summary={"count": 2, "dim": 16, "model": {"artifact_id": 3, "uri": serving_dir}},
    )
    out = str(tmp_path / "embeddings")
    with pytest.raises(EmbeddingCheckError, match=r"previous embedding of image 2 has norm 2\.0"):
        embed_images(
            fx.write_index_split(str(tmp_path / "examples"), images_for([1, 2, 3])),
            serving_dir,
            out,
            model_artifact_id=3,
            previous_embeddings_uri=previous,
        )
    assert embeddings_io.embedding_files(out) == []


def test_incremental_with_another_model_embeds_everything_and_says_why(tmp_path, serving_dir):
    previous = str(tmp_path / "previous")
    embeddings_io.write_embeddings(
        previous,
        [1],
        np.eye(1, 16, dtype=np.float32),
        [b"old"],
        summary={
            "count": 1,
            "dim": 16,
            "model": {"artifact_id": 2, "uri": "/elsewhere/Format-Serving"},
        },
    )
    images = images_for([1, 2])
    out = str(tmp_path / "embeddings")

    summary = embed_images(
        fx.write_index_split(str(tmp_path / "examples"), images),
        serving_dir,
        out,
        model_artifact_id=3,
        previous_embeddings_uri=previous,
    )

    assert not summary["incremental"]["used"]
    assert "made with model" in summary["incremental"]["reason"]
    assert (summary["embedded_new"], summary["count"]) == (2, 2)
    assert_matches_model(out, serving_dir, images)


class _Unnormalized(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, image_bytes):
        return {formats.OUTPUT_EMBEDDING: tf.ones([tf.shape(image_bytes)[0], 4]) * 3.0}


def test_a_model_without_unit_norm_vectors_fails_the_run(tmp_path):
    serving = tmp_path / "model"
    module = _Unnormalized()
    tf.saved_model.save(
        module,
        str(serving / formats.MODEL_IMAGE_ENCODER),
        signatures={formats.SIGNATURE_IMAGE_BYTES: module.serve},
    )
    pattern = fx.write_index_split(str(tmp_path / "examples"), images_for([4]), shards=1)

    out = tmp_path / "embeddings"
    with pytest.raises(EmbeddingCheckError, match=r"image 4 .*norm 6\.0+ is not 1"):
        embed_images(pattern, str(serving), str(out))
    assert os.listdir(out) == []


def test_missing_inputs_are_named(tmp_path, serving_dir):
    with pytest.raises(FileNotFoundError, match="no image encoder"):
        embed_images(str(tmp_path / "*.gz"), str(tmp_path / "nothing"), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no Examples files"):
        embed_images(str(tmp_path / "none" / "*.gz"), serving_dir, str(tmp_path / "out"))


def test_summary_is_json_with_the_issue_figures(tmp_path, serving_dir):
    out = str(tmp_path / "embeddings")
    embed_images(
        fx.write_index_split(str(tmp_path / "examples"), images_for([1])), serving_dir, out
    )
    with open(os.path.join(out, formats.EMBEDDINGS_SUMMARY)) as f:
        summary = json.load(f)
    for key in (
        "count",
        "dim",
        "model_artifact_id",
        "norm_min",
        "norm_max",
        "norm_mean",
        "wall_seconds",
        "images_per_second",
        "execution",
        "incremental",
    ):
        assert key in summary, key


@pytest.mark.slow
def test_multi_processing_workers_embed_the_same_vectors(tmp_path, serving_dir):
    """Two DirectRunner worker processes (about 20 s of start-up): they import our modules,
    the images are rebalanced across them, and the vectors are the in-process ones."""
    images = images_for(range(1, 41))
    images[9] = fx.CORRUPT_IMAGE
    pattern = fx.write_index_split(str(tmp_path / "examples"), images, shards=1)
    out = str(tmp_path / "embeddings")

    summary = embed_images(
        pattern, serving_dir, out, num_workers=2, multiprocessing_min_images=10, batch_size=4
    )

    assert (summary["execution"]["mode"], summary["execution"]["workers"]) == (
        "multi_processing",
        2,
    )
    assert summary["execution"]["reshuffle"]
    assert [d["image_id"] for d in fx.read_dead_letters(out)] == [9]
    assert_matches_model(out, serving_dir, {k: v for k, v in images.items() if k != 9})
