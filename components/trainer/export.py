"""Writes the Model artifact (formats.py): the two tower SavedModels and model_config.json.

Image preprocessing (decode, resize) lives inside the image SavedModel's bytes signature,
and tokenization inside the text SavedModel's string signature, so consumers never copy
either. The pixel and token-id signatures are the TFLite paths: fixed shapes, no string
ops, no hash tables.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.common import formats, tf_text, tokenizer
from components.trainer import data, towers
from components.trainer.vocab_lookup import VocabLookup


class _Exported(tf.Module):
    """Holds a Keras tower's state without holding the Keras model.

    Tracking the model would make tf.saved_model.save serialize it the Keras way, tracing
    every layer (tens of seconds on this CPU) for Keras metadata nobody loads: consumers use
    the signatures. The signatures' functions close over the model, and what they capture
    is tracked here: its weights, and for a TF Hub tower the loaded object (its resources
    and assets, e.g. a tokenizer model, besides its variables).
    """

    def __init__(self, encoder: tf.keras.Model):
        super().__init__()
        self._encoder_call = encoder.__call__  # a bound method is not tracked
        self.encoder_weights = list(encoder.weights)
        self.hub_objects = [
            layer.resolved_object
            for layer in encoder.submodules
            if hasattr(layer, "resolved_object")
        ]

    def encoder(self, inputs):
        return self._encoder_call(inputs, training=False)


class ImageEncoderModule(_Exported):
    def __init__(self, encoder: tf.keras.Model, image_size: int):
        super().__init__(encoder)
        self.image_size = image_size
        self.embed_pixels = tf.function(
            self._embed_pixels,
            autograph=False,
            input_signature=[
                tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="pixels")
            ],
        )
        self.embed_bytes = tf.function(
            self._embed_bytes,
            autograph=False,
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
        )

    def _embed_pixels(self, pixels):
        return {formats.OUTPUT_EMBEDDING: self.encoder(pixels)}

    def _embed_bytes(self, image_bytes):
        pixels = tf.map_fn(
            lambda encoded: data.decode_and_resize(encoded, self.image_size),
            image_bytes,
            fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.uint8),
        )
        return {formats.OUTPUT_EMBEDDING: self.encoder(tf.cast(pixels, tf.float32))}


class TextEncoderModule(_Exported):
    """Token-id style: both signatures; string style (hub towers): the string one only."""

    def __init__(self, encoder: tf.keras.Model, vocab_path: str | None, max_tokens: int):
        super().__init__(encoder)
        self.max_tokens = max_tokens
        # Constants, not a hash table: see vocab_lookup.py.
        self.table = VocabLookup(vocab_path) if vocab_path else None
        self.embed_strings = tf.function(
            self._embed_strings,
            autograph=False,
            input_signature=[tf.TensorSpec([None], tf.string, name="text")],
        )
        if self.table is not None:
            self.embed_token_ids = tf.function(
                self._embed_token_ids,
                autograph=False,
                input_signature=[tf.TensorSpec([None, max_tokens], tf.int32, name="token_ids")],
            )

    def _embed_token_ids(self, token_ids):
        return {formats.OUTPUT_EMBEDDING: self.encoder(token_ids)}

    def _embed_strings(self, text):
        inputs = (
            text if self.table is None else tf_text.token_ids(text, self.table, self.max_tokens)
        )
        return {formats.OUTPUT_EMBEDDING: self.encoder(inputs)}


class BertTextEncoderModule(_Exported):
    """BERT layout: the token-id signature only, (ids, segment_ids, mask) int32 [batch, T].
    Text is tokenized outside the graph (components/common/text_model.py), exactly as the
    device does: WordPiece / SentencePiece are not TensorFlow built-in ops."""

    def __init__(self, encoder: tf.keras.Model, max_tokens: int):
        super().__init__(encoder)
        spec = [
            tf.TensorSpec([None, max_tokens], tf.int32, name=name)
            for name in ("ids", "segment_ids", "mask")
        ]
        self.embed_token_ids = tf.function(
            self._embed_token_ids, autograph=False, input_signature=spec
        )

    def _embed_token_ids(self, ids, segment_ids, mask):
        return {formats.OUTPUT_EMBEDDING: self.encoder([ids, segment_ids, mask])}


def save_image_encoder(serving_dir: str, image_encoder: tf.keras.Model, image_size: int) -> None:
    image_module = ImageEncoderModule(image_encoder, image_size)
    tf.saved_model.save(
        image_module,
        os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER),
        signatures={
            formats.SIGNATURE_IMAGE_BYTES: image_module.embed_bytes,
            formats.SIGNATURE_IMAGE_PIXELS: image_module.embed_pixels,
        },
    )


def export_bert_model(
    serving_dir: str,
    image_encoder: tf.keras.Model,
    text_encoder: tf.keras.Model,
    options,
    max_tokens: int,
    tokenizer: dict,
) -> dict:
    """Writes image_encoder/, a BERT-layout text_encoder/ and model_config.json (the
    tokenizer file is already under tokenizer/); returns the model config."""
    save_image_encoder(serving_dir, image_encoder, options.image_size)
    text_module = BertTextEncoderModule(text_encoder, max_tokens)
    tf.saved_model.save(
        text_module,
        os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER),
        signatures={formats.SIGNATURE_TEXT_TOKEN_IDS: text_module.embed_token_ids},
    )
    return _write_config(
        serving_dir,
        options,
        {
            "text_input_style": formats.TEXT_STYLE_BERT_IDS,
            "max_tokens": max_tokens,
            "tokenizer": tokenizer,
        },
    )


def _write_config(serving_dir: str, options, text: dict) -> dict:
    config = {
        "embedding_dim": options.embedding_dim,
        "image_size": options.image_size,
        # The pixel signature takes RGB 0..255 and scales inside the model.
        "image_norm_mean": 0.0,
        "image_norm_std": 1.0,
        **text,
        "image_tower": options.image_tower,
        "text_tower": options.text_tower,
    }
    with open(os.path.join(serving_dir, formats.MODEL_CONFIG), "w") as f:
        json.dump(config, f, indent=2)
    return config


def export_model(
    serving_dir: str, image_encoder: tf.keras.Model, text_encoder: tf.keras.Model, options
) -> dict:
    """Writes image_encoder/, text_encoder/ and model_config.json (vocab.txt is already
    there for token-id towers); returns the model config."""
    save_image_encoder(serving_dir, image_encoder, options.image_size)
    style = towers.text_input_style(options.text_tower)
    regex_ids = style == formats.TEXT_STYLE_REGEX_IDS
    vocab_path = os.path.join(serving_dir, formats.MODEL_VOCAB) if regex_ids else None
    text_module = TextEncoderModule(text_encoder, vocab_path, options.max_tokens)
    signatures = {formats.SIGNATURE_TEXT_STRINGS: text_module.embed_strings}
    if regex_ids:
        signatures[formats.SIGNATURE_TEXT_TOKEN_IDS] = text_module.embed_token_ids
    tf.saved_model.save(
        text_module, os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER), signatures=signatures
    )
    return _write_config(
        serving_dir,
        options,
        {
            "text_input_style": style,
            "max_tokens": options.max_tokens if regex_ids else None,
            "delimiter_regex": tokenizer.DELIMITER_REGEX if regex_ids else None,
        },
    )
