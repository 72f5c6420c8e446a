"""Texts -> embeddings through a Model artifact's text SavedModel, tokenized as the device
does (TensorFlow process; the evaluator and the exporter's check use it).

Regex-token towers tokenize inside the SavedModel (its string signature). A BERT-layout
tower's SavedModel takes token ids only (ids, segment ids, mask): WordPiece and
SentencePiece tokenization is not expressible in TensorFlow's built-in ops, so the text is
tokenized here, in Python, with the tokenizer file the model carries (bert_tokenizer.py,
the device's rules).
"""

from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np

from components.common import bert_tokenizer, formats


class TextModelError(ValueError):
    """The Model artifact's text tower cannot be used; the message names the file."""


def read_config(serving_dir: str) -> dict:
    path = os.path.join(serving_dir, formats.MODEL_CONFIG)
    if not os.path.isfile(path):
        raise TextModelError(f"{path}: missing; the Model artifact has no model config")
    with open(path) as f:
        return json.load(f)


def tokenizer_of(serving_dir: str, config: dict) -> bert_tokenizer.Tokenizer:
    spec = config.get("tokenizer") or {}
    if spec.get("kind") not in bert_tokenizer.KINDS or not spec.get("file"):
        raise TextModelError(
            f"{os.path.join(serving_dir, formats.MODEL_CONFIG)}: a "
            f"'{formats.TEXT_STYLE_BERT_IDS}' model needs tokenizer.kind "
            f"{bert_tokenizer.KINDS} and tokenizer.file (got {spec})"
        )
    return bert_tokenizer.load(spec["kind"], os.path.join(serving_dir, spec["file"]))


def text_embedder(serving_dir: str, batch_size: int = 256) -> Callable[[list[str]], np.ndarray]:
    """A function texts -> float32 [n, D] embeddings, as the trained model computes them."""
    import tensorflow as tf

    # Without model_config.json (a hand-built model) the text tower takes strings.
    has_config = os.path.isfile(os.path.join(serving_dir, formats.MODEL_CONFIG))
    config = read_config(serving_dir) if has_config else {}
    path = os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER)
    if not tf.saved_model.contains_saved_model(path):
        raise TextModelError(f"{path}: no SavedModel")
    loaded = tf.saved_model.load(path)
    bert = config.get("text_input_style") == formats.TEXT_STYLE_BERT_IDS
    key = formats.SIGNATURE_TEXT_TOKEN_IDS if bert else formats.SIGNATURE_TEXT_STRINGS
    if key not in loaded.signatures:
        raise TextModelError(f"{path}: no '{key}' signature (has {sorted(loaded.signatures)})")
    signature = loaded.signatures[key]
    tokenizer = tokenizer_of(serving_dir, config) if bert else None

    def embed(texts: list[str]) -> np.ndarray:
        _ = loaded  # the signature's variables belong to the loaded object
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            if tokenizer is None:
                result = signature(tf.constant(chunk, tf.string))
            else:
                inputs = bert_tokenizer.encode(tokenizer, chunk, int(config["max_tokens"]))
                result = signature(
                    ids=tf.constant(inputs.ids),
                    segment_ids=tf.constant(inputs.segment_ids),
                    mask=tf.constant(inputs.mask),
                )
            out.append(result[formats.OUTPUT_EMBEDDING].numpy().astype(np.float32))
        dim = int(config.get("embedding_dim", 0))
        return np.concatenate(out) if out else np.zeros([0, dim], np.float32)

    return embed
