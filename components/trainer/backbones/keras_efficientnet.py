"""keras.applications EfficientNet B0..B3 feature extractors (ImageNet weights or a file)."""

from __future__ import annotations

import os

import tensorflow as tf

from components.trainer.backbones.contract import BackboneError, ImageBackbone

CONSTRUCTORS = {
    "efficientnet_b0": "EfficientNetB0",
    "efficientnet_b1": "EfficientNetB1",
    "efficientnet_b2": "EfficientNetB2",
    "efficientnet_b3": "EfficientNetB3",
}
LICENCE = "Apache-2.0 (keras.applications; ImageNet weights from Keras' storage)"


def _weights_argument(name: str, setting: str):
    if setting.lower() in ("", "none"):
        return None
    if setting == "imagenet":
        return "imagenet"
    if not os.path.isfile(setting):
        raise BackboneError(
            f"image tower {name}, image_weights={setting!r}: expected "
            "'imagenet', 'none' or a weights file, and no such file exists"
        )
    return setting


def load(name: str, image_size: int, weights: str) -> ImageBackbone:
    """weights: 'imagenet' (downloads: online only), a weights file saved with
    include_top=False (.h5 / .weights.h5), or '' / 'none' for random initialization."""
    argument = _weights_argument(name, weights)
    constructor = getattr(tf.keras.applications, CONSTRUCTORS[name])
    try:
        # keras.applications EfficientNets normalize internally and take RGB 0..255.
        model = constructor(
            include_top=False,
            weights=argument,
            input_shape=(image_size, image_size, 3),
            pooling="avg",
        )
    except Exception as e:
        if argument == "imagenet":
            raise BackboneError(
                f"image tower {name}: cannot get the ImageNet weights ({e}). Keras downloads "
                "them from storage.googleapis.com; without network, set image_weights to a "
                "local weights file (include_top=False), or use efficientnet_lite0, whose "
                "weights come with an installed package"
            ) from e
        raise BackboneError(f"image tower {name}, image_weights={weights!r}: {e}") from e
    return ImageBackbone(
        name=name,
        model=model,
        feature_dim=int(model.output.shape[-1]),
        image_size=image_size,
        licence=LICENCE if argument == "imagenet" else "Apache-2.0 (keras)",
    )
