"""Training on frozen backbones (features once, heads trained), exported as whole towers
and checked on device: tiny honest backbones with real WordPiece / SentencePiece files.

The catalogue's real towers (EfficientNet-Lite0, MiniLM, USE-multilingual) go through the
same code in the slow end-to-end tests and in bench/towers_bench.py.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from components.common import formats, text_model
from components.text_encoder_exporter import work as exporter
from components.trainer import pretrained
from components.text_encoder_exporter.options import ExporterOptions
from components.trainer.options import TrainerOptions
import bert_fixtures

OPTIONS = dict(
    image_size=32,
    embedding_dim=16,
    max_tokens=16,
    batch_size=32,
    epochs=6,
    dropout=0.0,
    seed=3,
    learning_rate=3e-3,
    image_tower="tiny",
    text_tower="tiny",
    min_steps=0,
)


@pytest.fixture(scope="module")
def examples_dir(sample_collection, tmp_path_factory):
    from components.coco_example_gen.work import ingest

    out = str(tmp_path_factory.mktemp("examples"))
    ingest(sample_collection, out)
    return out


def _patterns(examples_dir, split):
    return [os.path.join(examples_dir, f"Split-{split}", "*")]


def _corpus(examples_dir) -> list[str]:
    from components.common import examples_io

    files = examples_io.expand_patterns(_patterns(examples_dir, "train"), "train")
    return bert_fixtures.sentencepiece_corpus(examples_io.scan_split(files).all_captions())


@pytest.mark.parametrize("length", [None, 16])
def test_caption_features_are_in_order_whatever_the_backbones_input_length(length):
    """A backbone taking any length gets length-sorted batches cut to their longest mask;
    one fixed at T gets full-width batches. Either way: each caption's full-width features,
    in the captions' order, past several batches and with empty and full-length rows."""
    rng = np.random.default_rng(0)
    lengths = np.concatenate([[2, 16, 1], rng.integers(2, 17, 97)])
    ids = rng.integers(3, 50, (100, 16)) * (np.arange(16) < lengths[:, None])
    mask = (ids > 0).astype(np.int32)
    stacked = np.stack([ids, np.zeros_like(ids), mask], axis=1).astype(np.int32)
    model = bert_fixtures.tiny_bert_text_model(50, length=length)
    full_width = model([stacked[:, 0], stacked[:, 1], stacked[:, 2]], training=False).numpy()
    got = pretrained.caption_features(model, stacked)
    np.testing.assert_allclose(got, full_width, atol=1e-5)


def test_a_backbones_traces_serve_all_its_feature_calls_and_do_not_keep_it_alive():
    """The Trainer computes a backbone's features once per split: later splits reuse the
    general traces the first call ended with (at most three: the first shape, then one
    general in length, then in batch size too), not two new traces per call. The cache
    holds models weakly, so a backbone the Trainer drops is freed."""
    import gc
    import weakref

    rng = np.random.default_rng(1)

    def stacked(rows: int) -> np.ndarray:
        lengths = rng.integers(1, 17, rows)
        ids = rng.integers(3, 50, (rows, 16)) * (np.arange(16) < lengths[:, None])
        return np.stack([ids, np.zeros_like(ids), (ids > 0)], axis=1).astype(np.int32)

    model = bert_fixtures.tiny_bert_text_model(50, length=None)
    for rows in (100, 40, 7):  # train, eval, and a last odd batch
        pretrained.caption_features(model, stacked(rows))
    call = pretrained.inference(model)
    assert call is pretrained.inference(model)
    assert 1 <= call.experimental_get_tracing_count() <= 3
    del call

    held = weakref.ref(model)
    del model
    gc.collect()
    assert held() is None


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece"])
def test_heads_train_on_cached_features_and_export_to_the_device(tmp_path, examples_dir, kind):
    loaders = bert_fixtures.tiny_loaders(str(tmp_path), kind, _corpus(examples_dir))
    options = TrainerOptions(**OPTIONS, feature_cache_dir=str(tmp_path / "cache"))
    serving = str(tmp_path / "serving")
    result = pretrained.train(
        _patterns(examples_dir, "train"),
        _patterns(examples_dir, "eval"),
        serving,
        "",
        options,
        loaders=loaders,
    )
    summary = result.summary
    assert summary["towers"]["image"]["cache"] == "miss"
    assert summary["towers"]["text"]["cache"] == "miss"
    # Only the heads train: the backbones' weights are not among the trained parameters.
    assert summary["towers"]["image"]["trained_parameters"] < summary["parameters"]["image_encoder"]
    losses = summary["loss_curve"]
    assert losses[-1] < losses[0], losses
    assert sorted(os.listdir(serving)) == sorted(formats.MODEL_BERT_FILES)
    with open(os.path.join(serving, formats.MODEL_CONFIG)) as f:
        config = json.load(f)
    assert config["text_input_style"] == formats.TEXT_STYLE_BERT_IDS
    assert config["tokenizer"]["kind"] == kind

    # The whole exported text tower equals the head on the cached features.
    texts = ["a red circle", "Two BLUE squares on the left", ""]
    embeddings = text_model.text_embedder(serving)(texts)
    assert embeddings.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)

    # A second run with the same backbones and data reuses the features.
    again = pretrained.train(
        _patterns(examples_dir, "train"),
        _patterns(examples_dir, "eval"),
        str(tmp_path / "serving2"),
        "",
        TrainerOptions(**{**OPTIONS, "epochs": 1}, feature_cache_dir=str(tmp_path / "cache")),
        loaders=loaders,
    )
    assert again.summary["towers"]["image"]["cache"] == "hit"
    assert again.summary["towers"]["text"]["cache"] == "hit"

    # On device: TextEmbedder (BERT-layout metadata, the model's tokenizer file packed)
    # matches the SavedModel on eval captions and the tricky strings.
    summary = exporter.export_encoders(serving, str(tmp_path / "exported"), ExporterOptions())
    assert summary["check"]["text_min_cosine"] >= 0.999
    assert summary["tokenizer"] == kind


def _weights_by_layer(model) -> dict[str, list[np.ndarray]]:
    return {layer.name: [w.numpy().copy() for w in layer.weights] for layer in model.layers}


@pytest.mark.parametrize(
    "setting,trained",
    [
        # The top block of each tiny backbone: conv2 (image), mix (text).
        ({"fine_tune_blocks": 1}, {"conv2", "mix"}),
        # The whole backbones.
        ({"freeze_backbone": False}, {"conv1", "conv2", "tokens", "segments", "mix"}),
    ],
)
def test_fine_tuning_changes_only_the_blocks_it_trains(tmp_path, examples_dir, setting, trained):
    tiny = bert_fixtures.tiny_loaders(str(tmp_path), "wordpiece", [])
    loaded, before = {}, {}

    def recorded(load):
        def load_and_record(*args):
            backbone = load(*args)
            loaded[backbone.name] = backbone.model
            before[backbone.name] = _weights_by_layer(backbone.model)
            return backbone

        return load_and_record

    loaders = pretrained.BackboneLoaders(recorded(tiny.image), recorded(tiny.text))
    options = TrainerOptions(**{**OPTIONS, "epochs": 1, **setting})
    result = pretrained.train(
        _patterns(examples_dir, "train"),
        _patterns(examples_dir, "eval"),
        str(tmp_path / "serving"),
        "",
        options,
        loaders=loaders,
    )
    changed = set()
    for name, model in loaded.items():
        for layer, weights in _weights_by_layer(model).items():
            if any(not np.array_equal(a, b) for a, b in zip(before[name][layer], weights)):
                changed.add(layer)
    assert changed == trained
    assert result.summary["towers"]["image"]["cache"] == "n/a"  # end to end, no features


@pytest.mark.parametrize(
    "setting,message",
    [
        ({"fine_tune_blocks": -1}, "fine_tune_blocks must be 0"),
        ({"fine_tune_blocks": 2, "freeze_backbone": False}, "set one of them"),
        (
            {"fine_tune_blocks": 2, "image_tower": "small_cnn", "text_tower": "small_text"},
            "needs a pretrained tower",
        ),
    ],
)
def test_fine_tune_blocks_is_validated(setting, message):
    from components.trainer import options as trainer_options

    found = trainer_options.problems(TrainerOptions(**setting))
    assert any(message in p and p.startswith("trainer.fine_tune_blocks") for p in found), found
