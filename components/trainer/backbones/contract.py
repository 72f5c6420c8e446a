"""What every backbone in the catalogue hands back, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass, field

import tensorflow as tf

TOKENIZER_SENTENCEPIECE = "sentencepiece"
TOKENIZER_WORDPIECE = "wordpiece"
TOKENIZER_REGEX = "regex"


class BackboneError(ValueError):
    """A backbone that cannot be loaded; the message names the backbone, the file and the fix."""


@dataclass(frozen=True)
class ImageBackbone:
    name: str  # catalogue name, or the handle / path given
    # float32 [B, S, S, 3] RGB 0..255 -> float32 [B, feature_dim]; TFLite built-in ops only.
    # Any normalization the weights expect is inside the model (ImageSearcher metadata:
    # norm_mean 0, norm_std 1).
    model: tf.keras.Model
    feature_dim: int
    image_size: int
    licence: str


@dataclass(frozen=True)
class TokenizerSpec:
    kind: str  # TOKENIZER_SENTENCEPIECE | TOKENIZER_WORDPIECE | TOKENIZER_REGEX
    # {"sentencepiece_model": path} or {"vocab": path}: the files the device's tokenizer
    # metadata carries, and the ones training must tokenize with.
    files: dict[str, str] = field(default_factory=dict)
    lowercase: bool = False  # what the device does (the Task Library BERT route: ASCII only)
    max_tokens: int = 0  # T, the model's sequence length, [CLS] and [SEP] included


@dataclass(frozen=True)
class TextBackbone:
    name: str
    # BERT layout: (ids, segment_ids, mask), each int32 [B, T] -> float32 [B, feature_dim];
    # TFLite built-in ops only. Tokens are [CLS] piece ... piece [SEP], zero padded, as the
    # Task Library BERT route feeds them; each backbone module says which ids it expects.
    # Inputs of length None (not T) declare that a row's features do not depend on the zero
    # padding after its mask; frozen features are then computed on batches cut to their
    # longest row (most captions are a third of T).
    model: tf.keras.Model
    feature_dim: int
    tokenizer: TokenizerSpec
    licence: str
