"""The Trainer's options (the `trainer` section of the app's config), read from the TFX
Trainer's `custom_config`.

custom_config is `dataclasses.asdict(TrainerOptions)` (any field may be left out, the
dataclass default applies) plus these optional keys:
  code_version: str   recorded in training_summary.json; pass
                      components.trainer.code_version() so a changed Trainer busts the
                      TFX cache (the cache key covers custom_config, not our sources).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from components.common.options import ConfigError, from_mapping

EXTRA_KEYS = ("code_version",)


@dataclass
class TrainerOptions:
    # The defaults are the offline pretrained towers (weights inside installed packages;
    # bench/towers_bench.py compares the pairs): efficientnet_lite0 | efficientnet_b0..b3 |
    # small_cnn (from scratch: tests, tiny demos) | a TF Hub handle or SavedModel path.
    image_tower: str = "efficientnet_lite0"
    # efficientnet_lite0: "" (its packaged ImageNet weights) or "none"; efficientnet_b0..b3:
    # "imagenet" (downloads: needs the network), "none" or a weights file.
    image_weights: str = ""
    # minilm_l6 | use_multilingual | small_text (from scratch: tests, tiny demos) | a TF Hub
    # BERT-style encoder or SavedModel with its tokenizer.
    text_tower: str = "minilm_l6"
    # 0 = the tower's own: 224 px for pretrained image towers, 64 px for small_cnn (tuned
    # on the 2,000-image sample); 32 tokens for BERT-layout text towers, 24 for small_text.
    image_size: int = 0
    embedding_dim: int = 128
    max_tokens: int = 0
    vocab_min_count: int = 1
    vocab_max_size: int = 20000
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 1e-4
    dropout: float = 0.1
    initial_temperature: float = 0.07
    # The learnable temperature is clipped to [min_temperature, 1] (CLIP: logit scale <= 100).
    min_temperature: float = 0.01
    freeze_backbone: bool = True
    # Pretrained backbones: 0 = frozen (features once, heads trained on them); N > 0 = train
    # each backbone's top N blocks with the heads, end to end (components/trainer/backbones/
    # blocks.py says what a block is). freeze_backbone=false trains whole backbones.
    fine_tune_blocks: int = 0
    # Frozen backbones: their features are computed once per image and caption; with a
    # directory here they are also kept there, keyed by backbone and data, and reused by
    # later runs (empty: recomputed every training run).
    feature_cache_dir: str = ""
    # Heads on frozen backbones' features: at least this many gradient steps (a collection
    # of 80 images at batch 64 is one step an epoch); such epochs cost milliseconds.
    min_steps: int = 300
    seed: int = 42
    # small_cnn: filters of the first stage (doubling per stage). small_text: token
    # embedding width, transformer layers and attention heads.
    image_width: int = 16
    text_width: int = 128
    text_layers: int = 1
    text_heads: int = 4


def from_custom_config(
    custom_config: dict[str, Any] | None,
) -> tuple[TrainerOptions, dict[str, Any]]:
    """(validated TrainerOptions, the extra keys). Unknown keys and bad values raise
    ConfigError naming the key."""
    custom_config = dict(custom_config or {})
    extras = {key: custom_config.pop(key) for key in EXTRA_KEYS if key in custom_config}
    # The config's own coercion and messages: one way to validate a trainer field.
    options = from_mapping(
        TrainerOptions, custom_config, section="trainer", source="Trainer custom_config"
    )
    validate(options)
    return options, extras


# trainer.image_size / max_tokens = 0: the tower's own.
SMALL_CNN_IMAGE_SIZE, BACKBONE_IMAGE_SIZE = 64, 224
SMALL_TEXT_MAX_TOKENS, BERT_MAX_TOKENS = 24, 32


def resolved(options: TrainerOptions) -> TrainerOptions:
    """The options with image_size and max_tokens 0 replaced by the towers' own values."""
    changes = {}
    if options.image_size == 0:
        changes["image_size"] = (
            SMALL_CNN_IMAGE_SIZE if options.image_tower == "small_cnn" else BACKBONE_IMAGE_SIZE
        )
    if options.max_tokens == 0:
        changes["max_tokens"] = (
            SMALL_TEXT_MAX_TOKENS if options.text_tower == "small_text" else BERT_MAX_TOKENS
        )
    return dataclasses.replace(options, **changes) if changes else options


def problems(options: TrainerOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = []
    for name in (
        "embedding_dim",
        "batch_size",
        "epochs",
        "image_width",
        "text_width",
        "text_layers",
        "text_heads",
    ):
        if getattr(options, name) < 1:
            found.append(f"{name} must be at least 1 (got {getattr(options, name)})")
    if options.image_size < 0 or 0 < options.image_size < 8:
        found.append(
            f"image_size must be 0 (the tower's own) or at least 8 (got {options.image_size})"
        )
    if options.batch_size < 2:
        found.append(
            "batch_size must be at least 2: the loss contrasts each pair with the rest of the batch"
        )
    if options.max_tokens < 0 or options.max_tokens == 1:
        found.append(
            "max_tokens must be 0 (the tower's own) or at least 2 (<START> or "
            f"[CLS] plus one token; got {options.max_tokens})"
        )
    if options.learning_rate <= 0:
        found.append(f"learning_rate must be positive (got {options.learning_rate})")
    if not 0 <= options.warmup_fraction < 1:
        found.append(f"warmup_fraction must be in [0, 1) (got {options.warmup_fraction})")
    if not 0 <= options.dropout < 1:
        found.append(f"dropout must be in [0, 1) (got {options.dropout})")
    if not 0 < options.min_temperature <= options.initial_temperature <= 1:
        found.append(
            "temperatures must satisfy 0 < min_temperature <= initial_temperature <= 1 "
            f"(got {options.min_temperature}, {options.initial_temperature})"
        )
    if options.fine_tune_blocks < 0:
        found.append(
            f"fine_tune_blocks must be 0 (frozen backbones) or more (got {options.fine_tune_blocks})"
        )
    elif options.fine_tune_blocks and not options.freeze_backbone:
        found.append(
            f"fine_tune_blocks={options.fine_tune_blocks} trains the top blocks of a backbone, "
            "but freeze_backbone=false trains all of it: set one of them"
        )
    elif options.fine_tune_blocks and (
        options.image_tower == "small_cnn" and options.text_tower == "small_text"
    ):
        found.append(
            "fine_tune_blocks needs a pretrained tower (image_tower or text_tower); "
            "small_cnn and small_text train whole anyway"
        )
    if options.weight_decay < 0:
        found.append(f"weight_decay must be >= 0 (got {options.weight_decay})")
    return [f"trainer.{p}" for p in found]


def validate(options: TrainerOptions) -> None:
    """The Trainer's own guard on its custom_config (it runs without the app too)."""
    found = problems(options)
    if found:
        raise ConfigError("Trainer custom_config: " + "; ".join(found))


def as_dict(options: TrainerOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)
