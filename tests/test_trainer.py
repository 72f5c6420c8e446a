"""The dual-encoder Trainer: loss, data pipeline, export contract, TFLite paths, hub towers.

Tiny towers and images (32 px) keep each training run to seconds; the acceptance-size run
is bench/train_bench.py.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.common import examples_io, formats, tokenizer
from components.common.captions import EVAL_CAPTIONS_LIMIT, read_captions, read_eval_captions
from components.trainer import data, module_file, options as trainer_options, towers, work
from t2i.configs import ConfigError
from components.trainer.options import TrainerOptions
from tiny_trainer import TINY_TRAINER

TINY = {**TINY_TRAINER, "seed": 3}


def tiny_options(**overrides) -> TrainerOptions:
    options, _ = trainer_options.from_custom_config({**TINY, **overrides})
    return options


@pytest.fixture(scope="module")
def examples_dir(sample_collection, tmp_path_factory):
    """The 300-image sample ingested by CocoExampleGen's own code (hash split)."""
    from components.coco_example_gen.work import ingest

    out = str(tmp_path_factory.mktemp("examples"))
    ingest(sample_collection, out)
    return out


def split_pattern(examples_dir, split):
    return [os.path.join(examples_dir, f"Split-{split}", "*")]


@pytest.fixture(scope="module")
def trained(examples_dir, tmp_path_factory):
    """One tiny model trained through the module file's run_fn, as the TFX Trainer calls it."""
    from tfx.components.trainer.fn_args_utils import FnArgs

    root = tmp_path_factory.mktemp("model")
    fn_args = FnArgs(
        train_files=split_pattern(examples_dir, "train"),
        eval_files=split_pattern(examples_dir, "eval"),
        serving_model_dir=str(root / "Format-Serving"),
        model_run_dir=str(root / "run"),
        custom_config={**TINY, "epochs": 2, "code_version": "test+1"},
    )
    module_file.run_fn(fn_args)
    return fn_args


def first_records(examples_dir, split, count, out_path) -> str:
    """The first `count` records of a split, as their own gzipped TFRecord file."""
    files = examples_io.expand_patterns(split_pattern(examples_dir, split), split)
    with tf.io.TFRecordWriter(str(out_path), options="GZIP") as writer:
        for record in tf.data.TFRecordDataset(files, "GZIP").take(count):
            writer.write(record.numpy())
    return str(out_path)


def test_loss_falls_on_a_tiny_set(tmp_path, examples_dir):
    # 32 captioned images, 2 batches an epoch: the towers can fit them.
    tiny_set = first_records(examples_dir, "train", 32, tmp_path / "first_32.gz")
    result = work.train(
        [tiny_set], [], str(tmp_path / "serving"), "", tiny_options(epochs=15, learning_rate=3e-3)
    )
    losses = result.summary["loss_curve"]
    assert len(losses) == 15 and all(np.isfinite(losses))
    # Chance is log(16) = 2.77 for a batch of 16.
    assert losses[0] > 2.0
    assert losses[-1] < 0.5 * losses[0], losses


def test_model_artifact_follows_the_contract(trained, examples_dir):
    serving = trained.serving_model_dir
    assert sorted(os.listdir(serving)) == sorted(formats.MODEL_FILES)
    # The eval split's captions in the order (and number) the searcher side reads them.
    assert read_eval_captions(serving) == read_captions(
        os.path.join(examples_dir, "Split-eval"), EVAL_CAPTIONS_LIMIT
    )
    with open(os.path.join(serving, formats.MODEL_CONFIG)) as f:
        config = json.load(f)
    assert config == {
        "embedding_dim": 16,
        "image_size": 32,
        "image_norm_mean": 0.0,
        "image_norm_std": 1.0,
        "text_input_style": formats.TEXT_STYLE_REGEX_IDS,
        "max_tokens": 12,
        "delimiter_regex": tokenizer.DELIMITER_REGEX,
        "image_tower": "small_cnn",
        "text_tower": "small_text",
    }
    table = tokenizer.read_vocab_file(os.path.join(serving, formats.MODEL_VOCAB))
    assert table["circle"] == table["Circle"] == table["CIRCLE"] > tokenizer.UNKNOWN_ID
    with open(os.path.join(serving, formats.TRAINING_SUMMARY)) as f:
        summary = json.load(f)
    assert summary["config"]["image_size"] == 32 and summary["code_version"] == "test+1"
    assert summary["steps"] == summary["epochs"] * summary["steps_per_epoch"] > 0
    assert len(summary["loss_curve"]) == 2 and len(summary["eval_recall_curve"]) == 2
    assert summary["examples_per_second"] > 0 and summary["wall_seconds"]["total"] > 0
    assert 0 <= summary["eval_recall_curve"][-1]["recall@10"] <= 1
    # TensorBoard event files in ModelRun.
    events = [f for _, _, files in os.walk(trained.model_run_dir) for f in files if "tfevents" in f]
    assert events


def test_exported_savedmodels_reload_with_the_same_embeddings(trained, examples_dir):
    serving = trained.serving_model_dir
    image = tf.saved_model.load(os.path.join(serving, formats.MODEL_IMAGE_ENCODER))
    text = tf.saved_model.load(os.path.join(serving, formats.MODEL_TEXT_ENCODER))
    assert set(image.signatures) == {formats.SIGNATURE_IMAGE_BYTES, formats.SIGNATURE_IMAGE_PIXELS}
    assert set(text.signatures) == {
        formats.SIGNATURE_TEXT_STRINGS,
        formats.SIGNATURE_TEXT_TOKEN_IDS,
    }

    # Each raw-input signature against its TFLite twin: encoded bytes vs the training
    # decoder's pixels; strings vs the ids the device's tokenizer (Python mirror) makes.
    eval_files = examples_io.expand_patterns(split_pattern(examples_dir, "eval"), "eval")
    records = list(examples_io.iter_records(eval_files))[:8]
    encoded = tf.constant([r.image for r in records])
    from_bytes = image.signatures[formats.SIGNATURE_IMAGE_BYTES](encoded)[formats.OUTPUT_EMBEDDING]
    pixels = tf.cast(tf.stack([data.decode_and_resize(e, 32) for e in encoded]), tf.float32)
    from_pixels = image.signatures[formats.SIGNATURE_IMAGE_PIXELS](pixels)[formats.OUTPUT_EMBEDDING]
    np.testing.assert_allclose(from_bytes.numpy(), from_pixels.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(from_bytes.numpy(), axis=1), 1.0, atol=1e-5)
    assert from_bytes.shape == (8, 16)

    texts = ["A small red circle on the left", "two BLUE squares , Top", "zebra café", ""]
    table = tokenizer.read_vocab_file(os.path.join(serving, formats.MODEL_VOCAB))
    ids = tf.constant([tokenizer.encode(t, table, 12) for t in texts], tf.int32)
    from_strings = text.signatures[formats.SIGNATURE_TEXT_STRINGS](tf.constant(texts))
    from_ids = text.signatures[formats.SIGNATURE_TEXT_TOKEN_IDS](ids)
    np.testing.assert_allclose(
        from_strings[formats.OUTPUT_EMBEDDING].numpy(),
        from_ids[formats.OUTPUT_EMBEDDING].numpy(),
        atol=1e-5,
    )


def test_in_memory_towers_and_reloaded_savedmodels_agree(tmp_path, examples_dir):
    result = work.train(
        split_pattern(examples_dir, "train"),
        [],
        str(tmp_path / "serving"),
        "",
        tiny_options(epochs=1),
    )
    serving = str(tmp_path / "serving")
    image = tf.saved_model.load(os.path.join(serving, formats.MODEL_IMAGE_ENCODER))
    text = tf.saved_model.load(os.path.join(serving, formats.MODEL_TEXT_ENCODER))
    pixels = tf.random.stateless_uniform([5, 32, 32, 3], seed=[1, 2], maxval=255.0)
    np.testing.assert_allclose(
        result.image_encoder(pixels, training=False).numpy(),
        image.signatures[formats.SIGNATURE_IMAGE_PIXELS](pixels)[formats.OUTPUT_EMBEDDING].numpy(),
        atol=1e-5,
    )
    ids = tf.constant([[1, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0], [1] + [9] * 11], tf.int32)
    np.testing.assert_allclose(
        result.text_encoder(ids, training=False).numpy(),
        text.signatures[formats.SIGNATURE_TEXT_TOKEN_IDS](ids)[formats.OUTPUT_EMBEDDING].numpy(),
        atol=1e-5,
    )


def test_tflite_paths_convert_with_builtin_ops_only(trained):
    serving = trained.serving_model_dir
    cases = [
        (
            formats.MODEL_TEXT_ENCODER,
            formats.SIGNATURE_TEXT_TOKEN_IDS,
            np.array([[1, 5, 9, 2, 0, 0, 0, 0, 0, 0, 0, 0]], np.int32),
        ),
        (
            formats.MODEL_IMAGE_ENCODER,
            formats.SIGNATURE_IMAGE_PIXELS,
            np.random.default_rng(0).uniform(0, 255, [1, 32, 32, 3]).astype(np.float32),
        ),
    ]
    for model_dir, signature, example in cases:
        path = os.path.join(serving, model_dir)
        converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[signature])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
        runner = interpreter.get_signature_runner(signature)
        (input_name,) = runner.get_input_details()
        got = runner(**{input_name: example})[formats.OUTPUT_EMBEDDING]
        want = tf.saved_model.load(path).signatures[signature](tf.constant(example))
        np.testing.assert_allclose(got, want[formats.OUTPUT_EMBEDDING].numpy(), atol=1e-4)


def _solid_png(rgb) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_split(path, images):
    """images: [(image_id, encoded bytes, [captions])] as a gzipped TFRecord file."""
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for image_id, encoded, captions in images:
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            formats.FEATURE_IMAGE_ID: tf.train.Feature(
                                int64_list=tf.train.Int64List(value=[image_id])
                            ),
                            formats.FEATURE_IMAGE: tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[encoded])
                            ),
                            formats.FEATURE_CAPTIONS: tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[c.encode() for c in captions])
                            ),
                        }
                    )
                ).SerializeToString()
            )
    return str(path)


def test_one_caption_per_image_per_step_resampled_each_epoch(tmp_path):
    images = [
        (i, _solid_png((20 * i, 0, 0)), [f"c{i} one", f"c{i} two", f"c{i} three"])
        for i in range(12)
    ]
    images.append((99, _solid_png((0, 255, 0)), []))  # captionless: never trained on
    path = _write_split(tmp_path / "work.gz", images)
    dataset = data.training_dataset(
        [path], data.caption_encoder(None, 8), image_size=8, batch_size=4, seed=0, num_images=12
    )
    captions_seen = {i: set() for i in range(12)}
    epochs = [list(dataset) for _ in range(4)]
    for batches in epochs:
        seen = []
        for pixels, captions in batches:
            assert pixels.shape == (4, 8, 8, 3) and pixels.dtype == tf.uint8
            ids = [int(round(float(np.mean(p[..., 0])) / 20)) for p in pixels.numpy()]
            assert len(set(ids)) == 4  # one image once per batch
            for image_id, caption in zip(ids, captions.numpy()):
                caption = caption.decode()
                assert caption.startswith(f"c{image_id} "), (image_id, caption)
                captions_seen[image_id].add(caption)
            seen += ids
        assert sorted(seen) == list(range(12))  # every captioned image once per epoch
    assert sum(len(c) > 1 for c in captions_seen.values()) >= 6  # captions vary by epoch
    # Deterministic for the seed.
    again = data.training_dataset([path], data.caption_encoder(None, 8), 8, 4, 0, 12)
    assert [c.numpy().tolist() for _, c in list(again)] == [
        c.numpy().tolist() for _, c in epochs[0]
    ]


def test_bad_records_are_named(tmp_path):
    good = _solid_png((1, 2, 3))
    path = _write_split(tmp_path / "bad.gz", [(1, good, ["fine"]), (2, b"not an image", ["x"])])
    with pytest.raises(
        examples_io.ExamplesError, match=r"bad.gz: record 1 \(image_id 2\).*not a JPEG"
    ):
        examples_io.scan_split([path])
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"garbage that is not gzip")
    with pytest.raises(examples_io.ExamplesError, match=r"garbage.gz: record 0: cannot read"):
        examples_io.scan_split([str(path)])
    with pytest.raises(examples_io.ExamplesError, match="no training files match"):
        work.train([str(tmp_path / "nothing-*")], [], str(tmp_path / "s"), "", tiny_options())


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown field trainer.epoch "):
        trainer_options.from_custom_config({"epoch": 3})
    with pytest.raises(ConfigError, match="trainer.batch_size must be at least 2"):
        trainer_options.from_custom_config({"batch_size": 1})
    with pytest.raises(towers.TowerError, match="trainer.image_tower='resnet'.*no saved_model.pb"):
        towers.build_image_encoder(tiny_options(image_tower="resnet"))
    with pytest.raises(towers.TowerError, match="image_weights='/no/such.h5'"):
        towers.build_image_encoder(
            tiny_options(image_tower="efficientnet_b0", image_weights="/no/such.h5")
        )


def test_efficientnet_tower_loads_a_weights_file_and_freezes(tmp_path):
    backbone = tf.keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    for i, variable in enumerate(backbone.weights):
        if variable.dtype.is_floating:  # distinctive values, not the initializer's
            variable.assign(tf.fill(variable.shape, 0.001 * (i % 7)))
    weights_path = str(tmp_path / "b0_notop.h5")
    backbone.save_weights(weights_path)

    frozen = towers.build_image_encoder(
        tiny_options(image_tower="efficientnet_b0", image_weights=weights_path)
    )
    loaded = frozen.get_layer("efficientnetb0")
    for want, got in zip(backbone.weights, loaded.weights):
        np.testing.assert_array_equal(want.numpy(), got.numpy())
    # Frozen: only the projection head trains.
    assert {v.name.split("/")[0] for v in frozen.trainable_variables} <= {
        "image_projection",
        "image_projection_dense",
        "image_projection_norm",
    }
    out = frozen(tf.zeros([2, 32, 32, 3]))
    assert out.shape == (2, 16)

    unfrozen = towers.build_image_encoder(
        tiny_options(image_tower="efficientnet_b0", image_weights="none", freeze_backbone=False)
    )
    assert len(unfrozen.trainable_variables) > 100


class _WordHashFeatures(tf.keras.layers.Layer):
    """A tiny string -> feature-vector model, standing in for a Universal Sentence Encoder."""

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(64, 8))

    def call(self, text):
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(text)), 64)
        return tf.math.reduce_mean(tf.ragged.map_flat_values(tf.gather, self.table, ids), axis=1)


def _hub_savedmodels(root) -> tuple[str, str]:
    pixels = tf.keras.Input((None, None, 3))
    x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(pixels)
    image_model = tf.keras.Model(pixels, tf.keras.layers.GlobalAveragePooling2D()(x))
    text = tf.keras.Input((), dtype=tf.string)
    text_model = tf.keras.Model(text, _WordHashFeatures()(text))
    image_path, text_path = str(root / "image_feature_vector"), str(root / "sentence_encoder")
    image_model.save(image_path)  # tf_keras writes a SavedModel directory
    text_model.save(text_path)
    return image_path, text_path


def test_hub_towers_load_from_local_savedmodels_and_train(tmp_path, examples_dir):
    """A hub image tower loads, fine-tunes and exports; a raw-string hub text tower is
    refused before training (the Task Library cannot run its string ops: issue 14)."""
    from components.trainer.backbones.contract import BackboneError

    image_path, text_path = _hub_savedmodels(tmp_path)
    serving = str(tmp_path / "serving")
    with pytest.raises(BackboneError, match="takes raw strings"):
        work.train(
            split_pattern(examples_dir, "train"),
            split_pattern(examples_dir, "eval"),
            str(tmp_path / "refused"),
            "",
            tiny_options(image_tower=image_path, text_tower=text_path, epochs=1),
        )
    assert not os.path.exists(os.path.join(str(tmp_path / "refused"), formats.MODEL_CONFIG))

    result = work.train(
        split_pattern(examples_dir, "train"),
        split_pattern(examples_dir, "eval"),
        serving,
        "",
        tiny_options(
            image_tower=image_path, text_tower="small_text", freeze_backbone=False, epochs=2
        ),
    )
    hub_layers = [layer for layer in result.image_encoder.layers if "hub" in layer.name]
    assert hub_layers and hub_layers[0].trainable_weights  # the hub tower trained too
    with open(os.path.join(serving, formats.MODEL_CONFIG)) as f:
        config = json.load(f)
    assert config["image_tower"] == image_path
    image = tf.saved_model.load(os.path.join(serving, formats.MODEL_IMAGE_ENCODER))
    pixels = tf.random.stateless_uniform([3, 32, 32, 3], seed=[4, 5], maxval=255.0)
    np.testing.assert_allclose(
        image.signatures[formats.SIGNATURE_IMAGE_PIXELS](pixels)[formats.OUTPUT_EMBEDDING].numpy(),
        result.image_encoder(pixels, training=False).numpy(),
        atol=1e-5,
    )

    frozen = towers.build_image_encoder(tiny_options(image_tower=image_path))
    assert not [
        w for layer in frozen.layers if "hub" in layer.name for w in layer.trainable_weights
    ]


def test_table_free_vocab_lookup_matches_the_hash_table_twin(tmp_path):
    from components.common import tf_text
    from components.trainer.vocab_lookup import VocabLookup

    path = str(tmp_path / "vocab.txt")
    tokenizer.write_vocab_file(
        path,
        tokenizer.build_vocab(
            ["a red circle", "two café 東京 dog's", "x_y left of", "Blue SQUARE"]
        ),
    )
    texts = tf.constant(
        [
            "A red circle",
            "  ,,two  café!東京 dog's?? ",
            "",
            "zebra RED x_y-left OF of",
            "a " * 40,
            "Ünknown\tred\ncircle",
            "blue Square SQUARE sQuare",
        ]
    )
    want = tf_text.token_ids(texts, tf_text.vocab_lookup_table(path), 10)
    got = tf_text.token_ids(texts, VocabLookup(path), 10)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
