"""A backbone's blocks, input side first, and unfreezing only the top N of them
(trainer.fine_tune_blocks).

What a block is, by kind of backbone:
- keras.applications EfficientNet layouts (efficientnet_lite0, efficientnet_b0..b3): each
  MBConv block (`block6a_*`, `block7a_*`, ...), then the 1x1 top convolution with its batch
  norm as the last block. Lite0 has 16 blocks plus the top.
- BERT (minilm_l6, transformers' TFBertModel): each transformer layer; the embeddings stay
  frozen.
- Anything else (use_multilingual's single layer, a TF Hub layer, tests' tiny backbones):
  each layer that holds weights, in the model's order.
"""

from __future__ import annotations

import re

import tensorflow as tf

from components.trainer.backbones.contract import BackboneError

_EFFICIENTNET_BLOCK = re.compile(r"^(block\d+[a-z]+|top)_")


def blocks(model: tf.keras.Model) -> list[list[tf.keras.layers.Layer]]:
    """The model's blocks, input side first, each a list of layers."""
    return _efficientnet_blocks(model) or _bert_blocks(model) or _weighted_layers(model)


def _efficientnet_blocks(model: tf.keras.Model) -> list[list[tf.keras.layers.Layer]]:
    groups: dict[str, list[tf.keras.layers.Layer]] = {}
    for layer in model.layers:
        match = _EFFICIENTNET_BLOCK.match(layer.name)
        if match:
            groups.setdefault(match.group(1), []).append(layer)
    return list(groups.values()) if any(name != "top" for name in groups) else []


def _bert_blocks(model: tf.keras.Model) -> list[list[tf.keras.layers.Layer]]:
    for module in model.submodules:
        if type(module).__name__ == "TFBertEncoder":
            return [[layer] for layer in module.layer]
    return []


def _weighted_layers(model: tf.keras.Model) -> list[list[tf.keras.layers.Layer]]:
    return [[layer] for layer in model.layers if layer.weights]


def unfreeze_top_blocks(model: tf.keras.Model, count: int, name: str) -> None:
    """Trains the top `count` blocks of the model, and nothing else of it."""
    found = blocks(model)
    if not 1 <= count <= len(found):
        raise BackboneError(
            f"backbone {name}: trainer.fine_tune_blocks={count}, but it has {len(found)} "
            f"blocks (1..{len(found)}; freeze_backbone=false trains all of it)"
        )
    top = [layer for group in found[-count:] for layer in group]
    # Keep trainable: the top blocks, what is inside them, and what holds them (a layer's
    # trainable flag is inherited by everything inside it). Freeze all the rest.
    keep = {id(module) for layer in top for module in (layer, *layer.submodules)}
    layers = [m for m in model.submodules if isinstance(m, tf.keras.layers.Layer)]
    for layer in layers:
        if any(id(inner) in keep for inner in layer.submodules):
            keep.add(id(layer))
    model.trainable = True
    for layer in layers:
        if id(layer) not in keep:
            layer.trainable = False
