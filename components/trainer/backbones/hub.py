"""TF Hub handles and local SavedModel directories as backbones (TF Hub URLs need network)."""

from __future__ import annotations

import os

import tensorflow as tf

from components.trainer.backbones.contract import BackboneError, ImageBackbone


def is_savedmodel_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def check_handle(handle: str, kind: str, catalogue: tuple[str, ...]) -> None:
    if "://" not in handle and not is_savedmodel_dir(handle):
        raise BackboneError(
            f"{kind} tower {handle!r}: not a catalogue tower ({', '.join(catalogue)}), not a "
            "TF Hub URL, and not a SavedModel directory (no saved_model.pb there)"
        )


def keras_layer(handle: str, name: str, **kwargs):
    """hub.KerasLayer, built trainable so that the caller's `trainable` flag decides.

    (A layer built with trainable=False registers its variables as non-trainable for good;
    one built trainable can still be frozen. A SavedModel that exposes no `variables` gets no
    weights either way, so it cannot be fine-tuned.)"""
    import tensorflow_hub as hub

    try:
        return hub.KerasLayer(handle, trainable=True, name=name, **kwargs)
    except Exception as e:
        raise BackboneError(f"{handle!r}: cannot load it through tensorflow_hub: {e}") from e


def check_feature_vector(features, handle: str, kind: str) -> tf.Tensor:
    if isinstance(features, dict):
        raise BackboneError(
            f"{kind} tower {handle!r} returns a dict ({sorted(features)}); it "
            "must return one [batch, features] tensor (a feature-vector model)"
        )
    if features.shape.rank != 2:
        raise BackboneError(
            f"{kind} tower {handle!r} returns shape {features.shape}; it must "
            "return [batch, features] (a feature-vector model)"
        )
    return features


def load_image(handle: str, image_size: int, catalogue: tuple[str, ...]) -> ImageBackbone:
    """A TF Hub image feature-vector model: it takes RGB floats in [0, 1] (TF Hub's
    convention); the Rescaling in front keeps the catalogue's 0..255 input contract."""
    check_handle(handle, "image", catalogue)
    pixels = tf.keras.Input((image_size, image_size, 3), dtype=tf.float32, name="pixels")
    scaled = tf.keras.layers.Rescaling(1.0 / 255, name="to_unit_range")(pixels)
    features = check_feature_vector(keras_layer(handle, "hub_image_tower")(scaled), handle, "image")
    model = tf.keras.Model(pixels, features, name="hub_image_backbone")
    return ImageBackbone(
        name=handle,
        model=model,
        feature_dim=int(features.shape[-1]),
        image_size=image_size,
        licence="see the model's own page",
    )
