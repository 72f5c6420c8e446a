"""TextEncoderExporter: real conversion of the fixture model, real Task Library checks."""

import json
import os
import shutil

import numpy as np
import pytest

from components.common import formats
from components.text_encoder_exporter import convert, work
from components.text_encoder_exporter.options import ExporterOptions
from searcher_fixtures import (
    all_captions,
    exported_encoders,
    run_tf_free,
    write_embeddings,
    write_examples,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("exporter")


@pytest.fixture(scope="module")
def exported(root):
    return exported_encoders(root)


def _metadata_json(path: str) -> dict:
    # The metadata readers are safe next to TensorFlow (docs/STACK.md §3).
    from tensorflow_lite_support.metadata.python import metadata

    displayer = metadata.MetadataDisplayer.with_model_file(path)
    return {
        "metadata": json.loads(displayer.get_metadata_json()),
        "files": displayer.get_packed_associated_file_list(),
    }


def test_export_writes_both_towers_and_a_passing_summary(exported):
    out = exported["text_encoder"]
    for name in (formats.TEXT_ENCODER_TFLITE, formats.IMAGE_ENCODER_TFLITE, formats.EXPORT_SUMMARY):
        assert os.path.isfile(os.path.join(out, name))
    with open(os.path.join(out, formats.EXPORT_SUMMARY)) as f:
        summary = json.load(f)
    check = summary["check"]
    assert check["eval_captions"] == 100 and check["tricky_texts"] == len(work.TRICKY_TEXTS)
    assert check["text_min_cosine"] >= 0.999 and check["image_min_cosine"] >= 0.999
    assert summary["options"]["quantize"] is False


def test_text_metadata_carries_tokenizer_vocab_and_general_info(exported):
    info = _metadata_json(os.path.join(exported["text_encoder"], formats.TEXT_ENCODER_TFLITE))
    meta = info["metadata"]
    assert meta["name"] == "t2i text encoder" and meta["author"] == "t2i-searcher"
    assert meta["version"].startswith("0.1.0 model ") and "embedding" in meta["description"]
    tensor = meta["subgraph_metadata"][0]["input_tensor_metadata"][0]
    unit = tensor["process_units"][0]
    assert unit["options_type"] == "RegexTokenizerOptions"
    assert unit["options"]["delim_regex_pattern"] == r"[^\pL\pN_']+"
    assert unit["options"]["vocab_file"][0]["name"] == "vocab.txt"
    assert info["files"] == ["vocab.txt"]
    with open(os.path.join(exported["serving"], formats.MODEL_VOCAB), "rb") as f:
        model_vocab = f.read()
    import zipfile

    with zipfile.ZipFile(os.path.join(exported["text_encoder"], formats.TEXT_ENCODER_TFLITE)) as z:
        assert z.read("vocab.txt") == model_vocab


def test_image_metadata_carries_normalization_and_rgb(exported):
    meta = _metadata_json(os.path.join(exported["text_encoder"], formats.IMAGE_ENCODER_TFLITE))[
        "metadata"
    ]
    tensor = meta["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert tensor["content"]["content_properties"]["color_space"] == "RGB"
    norm = tensor["process_units"][0]["options"]
    assert norm["mean"] == [0.0] and norm["std"] == [1.0]


PARITY_TEXTS = [
    "a red circle",
    "A red circle",
    "A RED CIRCLE",
    "a Red Circle!",
    "red,circle;;a",
    "a red circle on the left of the picture and a small green star at the top " * 2,
    "café zebra",
    "東京 red",
    "don't stop x_y",
    "",
    "   ",
    "qwerty asdf",
    "Circle?!",
    "a\tred\ncircle",
    "ünïcödé circle",
]


def test_device_tokenizer_matches_training_tokenization(exported):
    """TextEmbedder (Task Library regex tokenizer + TFLite) == the SavedModel's string
    signature (training tokenization), on tricky strings; case variants that share an id
    in vocab.txt embed identically on device."""
    reply = run_tf_free(
        """
from components.common import device_search
embedder = device_search.open_text_embedder(request["model"])
reply = [device_search.embedding_of(embedder.embed(t)).tolist() for t in request["texts"]]
""",
        {
            "model": os.path.join(exported["text_encoder"], formats.TEXT_ENCODER_TFLITE),
            "texts": PARITY_TEXTS,
        },
    )
    device = np.array(reply, np.float32)
    reference = convert.embed_texts(
        os.path.join(exported["serving"], formats.MODEL_TEXT_ENCODER), PARITY_TEXTS
    )
    cos = work.cosines(device, reference)
    assert np.all(cos >= 0.999), dict(zip(PARITY_TEXTS, cos.round(5)))
    # The vocabulary lists "red", "Red" and "RED" under one id: the Task Library accepts it.
    np.testing.assert_allclose(device[0], device[1], atol=1e-6)
    np.testing.assert_allclose(device[0], device[2], atol=1e-6)
    np.testing.assert_allclose(device[0], device[3], atol=1e-6)


def test_quantized_export_passes_its_own_check(root):
    # 64-d embeddings of ~100 tokens: the embedding table is large enough to be quantized.
    quantized = exported_encoders(root, embedding_dim=64, quantize=True)
    float_export = exported_encoders(root, embedding_dim=64, quantize=False)
    check = quantized["summary"]["check"]
    assert quantized["summary"]["options"]["quantize"] is True
    assert check["min_cosine_required"] == 0.99 and check["text_min_cosine"] >= 0.99
    assert (
        quantized["summary"]["text_encoder_bytes"] < float_export["summary"]["text_encoder_bytes"]
    )
    # The image tower stays float (it is not part of searcher.tflite).
    assert check["image_min_cosine"] >= check["image_min_cosine_required"] == 0.999


def test_a_quantized_text_encoder_answers_through_the_real_text_searcher(root, tmp_path):
    """A searcher built on the quantized export: the Task Library's TextSearcher embeds each
    caption with the int8 encoder and finds, first, the item holding that caption's float
    (SavedModel) embedding."""
    from components.searcher_builder import work as builder
    from components.searcher_builder.options import SearcherOptions

    quantized = exported_encoders(root, embedding_dim=64, quantize=True)
    texts = sorted(set(all_captions(200)))[:40]
    vectors = convert.embed_texts(
        os.path.join(quantized["serving"], formats.MODEL_TEXT_ENCODER), texts
    )
    ids = np.arange(1, len(texts) + 1)
    write_embeddings(str(tmp_path / "embeddings"), ids, vectors)
    builder.build_searcher(
        str(tmp_path / "embeddings"),
        quantized["text_encoder"],
        str(tmp_path / "searcher"),
        SearcherOptions(),
    )
    reply = run_tf_free(
        """
from components.common import device_search
searcher = device_search.open_text_searcher(request["searcher"], max_results=3)
reply = [
    [[hit.item.image_id, hit.similarity] for hit in device_search.search_text(searcher, text)]
    for text in request["texts"]
]
""",
        {"searcher": str(tmp_path / "searcher" / formats.SEARCHER_TFLITE), "texts": texts},
    )
    firsts = [hits[0] for hits in reply]
    assert [image_id for image_id, _ in firsts] == list(ids)
    assert min(similarity for _, similarity in firsts) >= 0.99


def test_raw_string_text_tower_is_refused_with_an_explanation(exported, tmp_path):
    serving = tmp_path / "Format-Serving"
    shutil.copytree(exported["serving"], serving)
    config_path = serving / formats.MODEL_CONFIG
    config = json.loads(config_path.read_text())
    config["text_input_style"] = formats.TEXT_STYLE_STRINGS
    config_path.write_text(json.dumps(config))
    with pytest.raises(convert.ExportError, match="raw-string.*tokenized int32 input"):
        work.export_encoders(str(serving), str(tmp_path / "out"), ExporterOptions())


def test_a_device_vocabulary_that_disagrees_with_training_fails_the_check(exported, tmp_path):
    """If vocab.txt (what the device tokenizes with) drifts from the table inside the
    SavedModel (what training used), the exporter's self-check catches it."""
    serving = tmp_path / "Format-Serving"
    shutil.copytree(exported["serving"], serving)
    vocab = serving / formats.MODEL_VOCAB
    lines = vocab.read_text().splitlines()
    # Swap the ids of two frequent tokens on the device side only.
    tokens = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in lines}
    tokens["red"], tokens["circle"] = tokens["circle"], tokens["red"]
    vocab.write_text("".join(f"{t} {i}\n" for t, i in tokens.items()))
    with pytest.raises(work.ExportCheckError, match="embed differently on device"):
        work.export_encoders(str(serving), str(tmp_path / "out"), ExporterOptions())


def test_missing_or_empty_eval_captions_are_reported(exported, tmp_path):
    serving = tmp_path / "Format-Serving"
    shutil.copytree(exported["serving"], serving)
    eval_captions = serving / formats.MODEL_EVAL_CAPTIONS
    eval_captions.write_text("\n  \n")
    with pytest.raises(ValueError, match=r"eval_captions\.txt: empty"):
        work.export_encoders(str(serving), str(tmp_path / "out"), ExporterOptions())
    eval_captions.unlink()
    with pytest.raises(FileNotFoundError, match=r"eval_captions\.txt: missing"):
        work.export_encoders(str(serving), str(tmp_path / "out"), ExporterOptions())


def test_eval_captions_come_first_caption_per_example(tmp_path):
    from components.common import captions

    write_examples(str(tmp_path / "Split-eval"), 4)
    got = captions.read_captions(str(tmp_path / "Split-eval"), 6)
    assert len(got) == 6 and len(set(got)) == 6
    assert all(c.startswith("A ") for c in got[:4])  # the first caption of each image
