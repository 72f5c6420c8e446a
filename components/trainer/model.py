"""The dual encoder and its loss: symmetric InfoNCE with a learnable, clipped temperature."""

from __future__ import annotations

import math

import tensorflow as tf


def contrastive_loss(
    text_embeddings: tf.Tensor, image_embeddings: tf.Tensor, logit_scale: tf.Tensor
) -> tf.Tensor:
    """CLIP's loss: cross-entropy of each caption over the batch's images and of each image
    over the batch's captions, pair i's positive on the diagonal; the mean of both."""
    logits = logit_scale * tf.matmul(text_embeddings, image_embeddings, transpose_b=True)
    labels = tf.range(tf.shape(logits)[0])
    text_to_image = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    image_to_text = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
    return (tf.reduce_mean(text_to_image) + tf.reduce_mean(image_to_text)) / 2.0


class DualEncoder(tf.keras.Model):
    """Holds both towers and the temperature; `fit` trains them on (pixels, caption) batches."""

    def __init__(
        self,
        image_encoder: tf.keras.Model,
        text_encoder: tf.keras.Model,
        initial_temperature: float,
        min_temperature: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        # Learned as log(1 / temperature), as CLIP does; clipped in the forward pass so the
        # logits never exceed 1 / min_temperature (CLIP: 100) nor fall below 1.
        self.log_logit_scale = self.add_weight(
            name="log_logit_scale",
            shape=(),
            initializer=tf.keras.initializers.Constant(math.log(1.0 / initial_temperature)),
        )
        self.max_log_logit_scale = math.log(1.0 / min_temperature)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def logit_scale(self) -> tf.Tensor:
        return tf.exp(tf.clip_by_value(self.log_logit_scale, 0.0, self.max_log_logit_scale))

    def temperature(self) -> float:
        return float(1.0 / self.logit_scale())

    # Not autograph-converted: the code has no tensor-dependent Python control flow, and
    # converting it means converting all of Keras beneath it (tens of seconds per trace).
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=False):
        pixels, text = inputs
        return (
            self.text_encoder(text, training=training),
            self.image_encoder(tf.cast(pixels, tf.float32), training=training),
        )

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        with tf.GradientTape() as tape:
            text_embeddings, image_embeddings = self(data, training=True)
            loss = contrastive_loss(text_embeddings, image_embeddings, self.logit_scale())
            # Under a multi-replica strategy each replica contrasts its own share of the
            # batch and the gradients are summed: scale so the sum is the mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}
