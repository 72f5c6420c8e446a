"""The encoders: image and text backbones, the projection head, L2 normalization.

Each tower is a Keras model from its input (image: float32 [S, S, 3] RGB 0..255; text:
int32 token ids [max_tokens], or a raw string for hub text towers) to an L2-normalized
embedding. The layers on the TFLite paths (pixels, token ids) are plain conv / dense /
embedding / layer norm / matmul ops, all TFLite builtins: the Task Library interpreter
has no Flex ops.
"""

from __future__ import annotations

import math

import tensorflow as tf

from components.common import formats, tokenizer
from components.trainer import backbones

# Keras runs autograph over a custom layer's call(), and autograph then converts every
# Keras call inside it: 20+ s per model build on this CPU. These calls have no
# tensor-dependent Python control flow, so they need no conversion. (The wrapper hides
# call()'s signature from Keras, which then passes `training`: every call() accepts it.)
_plain_graph_code = tf.autograph.experimental.do_not_convert

SMALL_CNN = "small_cnn"
SMALL_TEXT = "small_text"


class TowerError(ValueError):
    """A tower setting that cannot be built; the message names the setting and the fix."""


def text_input_style(text_tower: str) -> str:
    return formats.TEXT_STYLE_REGEX_IDS if text_tower == SMALL_TEXT else formats.TEXT_STYLE_STRINGS


# --- image --------------------------------------------------------------------------------


def build_image_encoder(options, name: str = "image_encoder") -> tf.keras.Model:
    """float32 [batch, S, S, 3] RGB 0..255 -> L2-normalized [batch, embedding_dim]."""
    size = options.image_size
    pixels = tf.keras.Input((size, size, 3), dtype=tf.float32, name="pixels")
    spec = options.image_tower
    if spec == SMALL_CNN:
        features = _small_cnn(pixels, options.image_width)
    else:
        try:
            backbone = backbones.load_image_backbone(spec, size, options.image_weights)
        except backbones.BackboneError as e:
            raise TowerError(f"trainer.image_tower={spec!r}: {e}") from e
        backbone.model.trainable = not options.freeze_backbone
        # A frozen backbone keeps its batch-norm statistics: call it in inference mode.
        features = (
            backbone.model(pixels, training=False)
            if options.freeze_backbone
            else backbone.model(pixels)
        )
    embedding = projection_head(features, options.embedding_dim, options.dropout, "image")
    return tf.keras.Model(pixels, embedding, name=name)


def _small_cnn(pixels: tf.Tensor, width: int) -> tf.Tensor:
    """Four stride-2 stages, then the final feature map flattened.

    Flattening (rather than global pooling) keeps where things are: the captions say
    "on the left", "at the top", "left of".
    """
    x = tf.keras.layers.Rescaling(1.0 / 255, name="to_unit_range")(pixels)
    for stage in range(4):
        filters = width * 2**stage
        for conv, stride in enumerate((2, 1)):
            x = tf.keras.layers.Conv2D(
                filters,
                3,
                strides=stride,
                padding="same",
                use_bias=False,
                name=f"cnn{stage}_{conv}",
            )(x)
            # Momentum 0.9, not 0.99: a few hundred steps must suffice for the moving
            # statistics that inference uses to settle.
            x = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"cnn{stage}_{conv}_bn")(x)
            x = tf.keras.layers.ReLU(name=f"cnn{stage}_{conv}_relu")(x)
    x = tf.keras.layers.Conv2D(width * 2, 1, activation="relu", name="cnn_reduce")(x)
    return tf.keras.layers.Flatten(name="cnn_flatten")(x)


# --- text ---------------------------------------------------------------------------------


def build_text_encoder(options, vocab_size: int, name: str = "text_encoder") -> tf.keras.Model:
    """small_text: int32 [batch, max_tokens] ids -> embedding; hub: [batch] strings -> embedding."""
    spec = options.text_tower
    if spec == SMALL_TEXT:
        ids = tf.keras.Input((options.max_tokens,), dtype=tf.int32, name="token_ids")
        features = _small_text(ids, vocab_size, options)
        inputs = ids
    else:
        inputs = tf.keras.Input((), dtype=tf.string, name="text")
        features = _hub_layer(spec, "trainer.text_tower", options.freeze_backbone)(inputs)
        features = _check_feature_vector(features, spec, "trainer.text_tower")
    embedding = projection_head(features, options.embedding_dim, options.dropout, "text")
    return tf.keras.Model(inputs, embedding, name=name)


def _small_text(ids: tf.Tensor, vocab_size: int, options) -> tf.Tensor:
    """Token + position embeddings, pre-norm self-attention blocks, masked mean pooling.

    Attention (not a bag of words) because word order carries meaning here: "a red
    circle left of a blue square" is not "a blue circle left of a red square".
    """
    width = options.text_width
    x = tf.keras.layers.Embedding(vocab_size, width, name="token_embedding")(ids)
    x = PositionEmbedding(name="position_embedding")(x)
    mask = TokenMask(name="token_mask")(ids)
    for layer in range(options.text_layers):
        x = SelfAttentionBlock(
            width, options.text_heads, options.dropout, name=f"attention_{layer}"
        )(x, mask)
    x = tf.keras.layers.LayerNormalization(epsilon=1e-6, name="text_norm")(x)
    return MaskedMeanPool(name="masked_mean")(x, mask)


class TokenMask(tf.keras.layers.Layer):
    """[batch, T] ids -> [batch, T] float 1 for real tokens, 0 for <PAD>."""

    @_plain_graph_code
    def call(self, ids, training=None):
        return tf.cast(tf.not_equal(ids, tokenizer.PAD_ID), tf.float32)


class PositionEmbedding(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions",
            shape=(input_shape[1], input_shape[2]),
            initializer=tf.keras.initializers.RandomNormal(stddev=0.02),
        )

    @_plain_graph_code
    def call(self, x, training=None):
        return x + self.positions[None]


class SelfAttentionBlock(tf.keras.layers.Layer):
    """Pre-norm multi-head self-attention + ReLU MLP, written with matmuls (TFLite builtins)."""

    def __init__(self, width: int, heads: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise TowerError(f"trainer.text_width={width} must be divisible by text_heads={heads}")
        self.width, self.heads, self.dropout_rate = width, heads, dropout
        self.norm_attention = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.qkv = tf.keras.layers.Dense(3 * width)
        self.attention_out = tf.keras.layers.Dense(width)
        self.norm_mlp = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.mlp_in = tf.keras.layers.Dense(2 * width, activation="relu")
        self.mlp_out = tf.keras.layers.Dense(width)
        self.dropout = tf.keras.layers.Dropout(dropout)

    @_plain_graph_code
    def call(self, x, mask, training=None):
        batch, length = tf.shape(x)[0], x.shape[1]
        head_width = self.width // self.heads

        def split_heads(t):
            return tf.transpose(
                tf.reshape(t, [batch, length, self.heads, head_width]), [0, 2, 1, 3]
            )

        q, k, v = tf.split(self.qkv(self.norm_attention(x)), 3, axis=-1)
        scores = tf.matmul(split_heads(q), split_heads(k), transpose_b=True)
        scores = scores / math.sqrt(head_width) + (1.0 - mask[:, None, None, :]) * -1e9
        context = tf.matmul(tf.nn.softmax(scores, axis=-1), split_heads(v))
        context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, self.width])
        x = x + self.dropout(self.attention_out(context), training=training)
        return x + self.dropout(self.mlp_out(self.mlp_in(self.norm_mlp(x))), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "heads": self.heads,
            "dropout": self.dropout_rate,
        }


class MaskedMeanPool(tf.keras.layers.Layer):
    @_plain_graph_code
    def call(self, x, mask, training=None):
        weights = mask[..., None]
        return tf.reduce_sum(x * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


# --- shared -------------------------------------------------------------------------------


def projection_head(features: tf.Tensor, dim: int, dropout: float, prefix: str) -> tf.Tensor:
    """Dense -> ReLU -> Dense, dropout, residual, layer norm, L2 norm (the Keras dual-encoder
    example's head with the seeds' ReLU). The final layer norm lets embeddings take
    either sign; a bare ReLU output would confine them to one orthant."""
    projected = tf.keras.layers.Dense(dim, name=f"{prefix}_projection")(features)
    x = tf.keras.layers.ReLU(name=f"{prefix}_projection_relu")(projected)
    x = tf.keras.layers.Dense(dim, name=f"{prefix}_projection_dense")(x)
    x = tf.keras.layers.Dropout(dropout, name=f"{prefix}_projection_dropout")(x)
    x = tf.keras.layers.Add(name=f"{prefix}_projection_residual")([projected, x])
    x = tf.keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_projection_norm")(x)
    return L2Normalize(name=f"{prefix}_l2_normalize")(x)


class L2Normalize(tf.keras.layers.Layer):
    @_plain_graph_code
    def call(self, x, training=None):
        return tf.math.l2_normalize(x, axis=-1)


def _hub_layer(handle: str, setting: str, freeze: bool):
    """A TF Hub handle (URL) or a local SavedModel directory, as a Keras layer."""
    from components.trainer.backbones import hub

    try:
        hub.check_handle(handle, "text", (SMALL_TEXT, *backbones.TEXT_BACKBONES))
        layer = hub.keras_layer(handle, f"hub_{setting.split('.')[-1]}")
    except backbones.BackboneError as e:
        raise TowerError(f"{setting}={handle!r}: {e}") from e
    layer.trainable = not freeze
    return layer


def _check_feature_vector(features, handle: str, setting: str) -> tf.Tensor:
    from components.trainer.backbones import hub

    try:
        return hub.check_feature_vector(features, handle, setting)
    except backbones.BackboneError as e:
        raise TowerError(str(e)) from e
