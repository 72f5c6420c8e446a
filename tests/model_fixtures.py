"""A tiny, untrained dual encoder written in the Model-artifact format (formats.py).

Consumers of the Trainer's output (embedder, exporter, searcher, evaluator tests) build
this in a temp dir in a few seconds instead of training. It is a second, deliberately
small implementation of the contract, random weights and all; the Trainer's own tests
check the real model against the same contract.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.common import formats, tf_text, tokenizer
from components.common.captions import write_eval_captions


def build_fixture_model(
    serving_dir: str,
    captions: list[str],
    *,
    image_size: int = 32,
    embedding_dim: int = 16,
    max_tokens: int = 12,
    seed: int = 0,
) -> str:
    """Writes image_encoder/, text_encoder/, vocab.txt, model_config.json and
    eval_captions.txt (from `captions`, in their order); returns serving_dir."""
    tf.random.set_seed(seed)
    os.makedirs(serving_dir, exist_ok=True)
    write_eval_captions(serving_dir, captions)
    vocab_path = os.path.join(serving_dir, formats.MODEL_VOCAB)
    tokenizer.write_vocab_file(vocab_path, tokenizer.build_vocab(captions))
    vocab_size = max(tokenizer.read_vocab_file(vocab_path).values()) + 1

    image_module = _ImageEncoder(image_size, embedding_dim)
    tf.saved_model.save(
        image_module,
        os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER),
        signatures={
            formats.SIGNATURE_IMAGE_BYTES: image_module.embed_bytes,
            formats.SIGNATURE_IMAGE_PIXELS: image_module.embed_pixels,
        },
    )
    text_module = _TextEncoder(vocab_path, vocab_size, max_tokens, embedding_dim)
    tf.saved_model.save(
        text_module,
        os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER),
        signatures={
            formats.SIGNATURE_TEXT_STRINGS: text_module.embed_strings,
            formats.SIGNATURE_TEXT_TOKEN_IDS: text_module.embed_token_ids,
        },
    )
    config = {
        "embedding_dim": embedding_dim,
        "image_size": image_size,
        "image_norm_mean": 0.0,
        "image_norm_std": 1.0,
        "text_input_style": formats.TEXT_STYLE_REGEX_IDS,
        "max_tokens": max_tokens,
        "delimiter_regex": tokenizer.DELIMITER_REGEX,
        "image_tower": "fixture",
        "text_tower": "fixture",
    }
    with open(os.path.join(serving_dir, formats.MODEL_CONFIG), "w") as f:
        json.dump(config, f, indent=2)
    return serving_dir


class _ImageEncoder(tf.Module):
    def __init__(self, image_size: int, embedding_dim: int):
        super().__init__()
        self.image_size = image_size
        self.kernel = tf.Variable(tf.random.normal([3, 3, 3, 8], stddev=0.3))
        self.dense = tf.Variable(tf.random.normal([8, embedding_dim], stddev=0.5))

    def _embed(self, pixels: tf.Tensor) -> tf.Tensor:
        x = tf.nn.relu(tf.nn.conv2d(pixels / 255.0, self.kernel, strides=2, padding="SAME"))
        x = tf.reduce_mean(x, axis=[1, 2])
        return tf.math.l2_normalize(tf.nn.relu(x @ self.dense) + 1e-3, axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")])
    def embed_pixels(self, pixels):
        return {formats.OUTPUT_EMBEDDING: self._embed(pixels)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def embed_bytes(self, image_bytes):
        def decode(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32), [self.image_size] * 2)

        pixels = tf.map_fn(decode, image_bytes, fn_output_signature=tf.float32)
        return {formats.OUTPUT_EMBEDDING: self._embed(pixels)}


class _TextEncoder(tf.Module):
    def __init__(self, vocab_path: str, vocab_size: int, max_tokens: int, embedding_dim: int):
        super().__init__()
        self.max_tokens = max_tokens
        self.table = tf_text.vocab_lookup_table(vocab_path)
        self.embeddings = tf.Variable(tf.random.normal([vocab_size, embedding_dim]))

    def _embed(self, ids: tf.Tensor) -> tf.Tensor:
        mask = tf.cast(ids != tokenizer.PAD_ID, tf.float32)[..., None]
        vectors = tf.gather(self.embeddings, ids) * mask
        mean = tf.reduce_sum(vectors, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return tf.math.l2_normalize(tf.nn.relu(mean) + 1e-3, axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids")])
    def embed_token_ids(self, token_ids):
        return {formats.OUTPUT_EMBEDDING: self._embed(token_ids)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def embed_strings(self, text):
        ids = tf_text.token_ids(text, self.table, self.max_tokens)
        return {formats.OUTPUT_EMBEDDING: self._embed(ids)}
