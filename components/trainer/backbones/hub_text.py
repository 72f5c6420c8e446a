"""BERT-style text encoders from TF Hub (online) or a SavedModel directory, with their tokenizer.

Accepted: a TF2 SavedModel called as TF Hub's BERT encoders are, with a dict of int32
[B, T] tensors `input_word_ids`, `input_mask`, `input_type_ids`, returning a dict with
`sequence_output` [B, T, D] (masked-mean pooled here, as sentence encoders do) or
`pooled_output` [B, D]; and its tokenizer in assets/: `vocab.txt` (WordPiece) or one
SentencePiece `*.model`. That is the Task Library BERT route: the device can feed it.

Refused, before any training: a SavedModel that takes raw strings (TF Hub's Universal
Sentence Encoder style). Its in-graph string ops need the Flex delegate, which the Task
Library does not have (`FlexStringLower ... failed to prepare`).
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf

from components.trainer.backbones import hub
from components.trainer.backbones.contract import (
    TOKENIZER_SENTENCEPIECE,
    TOKENIZER_WORDPIECE,
    BackboneError,
    TextBackbone,
    TokenizerSpec,
)

BERT_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def _local_dir(handle: str) -> str:
    if "://" not in handle:
        return handle
    import tensorflow_hub

    try:
        return tensorflow_hub.resolve(handle)  # downloads into TFHUB_CACHE_DIR: online only
    except Exception as e:
        raise BackboneError(
            f"text tower {handle!r}: cannot fetch it from TF Hub ({e}); "
            "offline, use a SavedModel directory or a catalogue tower"
        ) from e


def _refusal(handle: str, what: str, catalogue: tuple[str, ...]) -> BackboneError:
    return BackboneError(
        f"text tower {handle!r} {what}. A text tower must reach the device's Task Library, "
        "which feeds BERT-style token ids and cannot run string ops (no Flex delegate). "
        "Provide instead a BERT-style encoder SavedModel: called with a dict of int32 [batch, "
        f"tokens] tensors {', '.join(BERT_INPUTS)}, returning sequence_output or "
        "pooled_output, with its tokenizer in assets/ (vocab.txt for WordPiece, or a "
        f"SentencePiece .model); or use a catalogue tower: {', '.join(catalogue)}"
    )


def _input_structure(loaded, handle: str):
    """The structure the SavedModel's __call__ takes (its first argument's spec)."""
    functions = (
        list(getattr(loaded.__call__, "concrete_functions", []) or []) if callable(loaded) else []
    )
    if functions:
        args, _ = functions[0].structured_input_signature
        return args[0] if args else None
    if "serving_default" in getattr(loaded, "signatures", {}):
        _, kwargs = loaded.signatures["serving_default"].structured_input_signature
        return kwargs
    raise BackboneError(
        f"text tower {handle!r}: the SavedModel has neither a callable "
        "__call__ nor a serving_default signature"
    )


def _tokenizer(directory: str, handle: str, max_tokens: int) -> TokenizerSpec:
    assets = os.path.join(directory, "assets")
    vocab = os.path.join(assets, "vocab.txt")
    if os.path.isfile(vocab):
        return TokenizerSpec(
            kind=TOKENIZER_WORDPIECE, files={"vocab": vocab}, lowercase=True, max_tokens=max_tokens
        )
    models = sorted(glob.glob(os.path.join(assets, "*.model")))
    if len(models) == 1:
        return TokenizerSpec(
            kind=TOKENIZER_SENTENCEPIECE,
            files={"sentencepiece_model": models[0]},
            lowercase=True,
            max_tokens=max_tokens,
        )
    raise BackboneError(
        f"text tower {handle!r}: {assets} holds no vocab.txt and "
        f"{'several' if models else 'no'} SentencePiece .model files; the "
        "device needs exactly one tokenizer to feed the encoder"
    )


def inspect(handle: str, max_tokens: int, catalogue: tuple[str, ...]) -> TokenizerSpec:
    """Checks that the handle is a BERT-style encoder the device can feed, and returns its
    tokenizer; the clear refusal for raw-string towers. Cheap enough to run before training."""
    hub.check_handle(handle, "text", catalogue)
    directory = _local_dir(handle)
    try:
        loaded = tf.saved_model.load(directory)
    except Exception as e:
        raise BackboneError(f"text tower {handle!r}: cannot load the SavedModel: {e}") from e
    structure = _input_structure(loaded, handle)
    if isinstance(structure, tf.TensorSpec) and structure.dtype == tf.string:
        raise _refusal(handle, "takes raw strings", catalogue)
    if isinstance(structure, dict) and any(s.dtype == tf.string for s in structure.values()):
        raise _refusal(handle, f"takes string inputs {sorted(structure)}", catalogue)
    if not isinstance(structure, dict) or not set(BERT_INPUTS) <= set(structure):
        raise _refusal(handle, f"takes {structure!r}, not the BERT inputs", catalogue)
    return _tokenizer(directory, handle, max_tokens)


class _PoolEncoderOutputs(tf.keras.layers.Layer):
    """The encoder's outputs -> [B, D]: masked mean of sequence_output, else pooled_output."""

    def call(self, outputs, mask, training=None):
        if "sequence_output" in outputs:
            weights = tf.cast(mask, tf.float32)[..., None]
            return tf.reduce_sum(outputs["sequence_output"] * weights, axis=1) / tf.maximum(
                tf.reduce_sum(weights, axis=1), 1.0
            )
        return outputs["pooled_output"]


def load_text(handle: str, max_tokens: int, catalogue: tuple[str, ...]) -> TextBackbone:
    tokenizer = inspect(handle, max_tokens, catalogue)
    ids = tf.keras.Input((max_tokens,), dtype=tf.int32, name="ids")
    segment_ids = tf.keras.Input((max_tokens,), dtype=tf.int32, name="segment_ids")
    mask = tf.keras.Input((max_tokens,), dtype=tf.int32, name="mask")
    outputs = hub.keras_layer(handle, "hub_text_tower")(
        {"input_word_ids": ids, "input_mask": mask, "input_type_ids": segment_ids}
    )
    if not isinstance(outputs, dict) or not {"sequence_output", "pooled_output"} & set(outputs):
        raise BackboneError(
            f"text tower {handle!r} returns {type(outputs).__name__}; a BERT-style "
            "encoder returns a dict with sequence_output or pooled_output"
        )
    features = hub.check_feature_vector(
        _PoolEncoderOutputs(name="pool")(outputs, mask), handle, "text"
    )
    model = tf.keras.Model([ids, segment_ids, mask], features, name="hub_text_backbone")
    return TextBackbone(
        name=handle,
        model=model,
        feature_dim=int(features.shape[-1]),
        tokenizer=tokenizer,
        licence="see the model's own page",
    )
