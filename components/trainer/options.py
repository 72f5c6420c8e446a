"""The Trainer's settings, read from the TFX Trainer's `custom_config`.

custom_config is `dataclasses.asdict(config.trainer)` (pipeline/configs.TrainerConfig;
any field may be left out, the dataclass default applies) plus these optional keys:
  code_version: str   recorded in training_summary.json; pass
                      components.trainer.code_version() so a changed Trainer busts the
                      TFX cache (the cache key covers custom_config, not our sources).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.configs import ConfigError, TrainerConfig, apply_mapping, Config

EXTRA_KEYS = ("code_version",)


def from_custom_config(custom_config: dict[str, Any] | None) -> tuple[TrainerConfig, dict[str, Any]]:
    """(validated TrainerConfig, the extra keys). Unknown keys and bad values raise
    ConfigError naming the key."""
    custom_config = dict(custom_config or {})
    extras = {key: custom_config.pop(key) for key in EXTRA_KEYS if key in custom_config}
    config = Config()
    # The config module's own coercion and messages: one way to validate a trainer field.
    apply_mapping(config, {"trainer": custom_config}, source="Trainer custom_config")
    validate(config.trainer)
    return config.trainer, extras


# trainer.image_size / max_tokens = 0: the tower's own.
SMALL_CNN_IMAGE_SIZE, BACKBONE_IMAGE_SIZE = 64, 224
SMALL_TEXT_MAX_TOKENS, BERT_MAX_TOKENS = 24, 32


def resolved(options: TrainerConfig) -> TrainerConfig:
    """The options with image_size and max_tokens 0 replaced by the towers' own values."""
    changes = {}
    if options.image_size == 0:
        changes["image_size"] = (SMALL_CNN_IMAGE_SIZE if options.image_tower == "small_cnn"
                                 else BACKBONE_IMAGE_SIZE)
    if options.max_tokens == 0:
        changes["max_tokens"] = (SMALL_TEXT_MAX_TOKENS if options.text_tower == "small_text"
                                 else BERT_MAX_TOKENS)
    return dataclasses.replace(options, **changes) if changes else options


def validate(options: TrainerConfig) -> None:
    problems = []
    for name in ("embedding_dim", "batch_size", "epochs",
                 "image_width", "text_width", "text_layers", "text_heads"):
        if getattr(options, name) < 1:
            problems.append(f"{name} must be at least 1 (got {getattr(options, name)})")
    if options.image_size < 0 or 0 < options.image_size < 8:
        problems.append(f"image_size must be 0 (the tower's own) or at least 8 "
                        f"(got {options.image_size})")
    if options.batch_size < 2:
        problems.append("batch_size must be at least 2: the loss contrasts each pair with the "
                        "rest of the batch")
    if options.max_tokens < 0 or options.max_tokens == 1:
        problems.append("max_tokens must be 0 (the tower's own) or at least 2 (<START> or "
                        f"[CLS] plus one token; got {options.max_tokens})")
    if options.learning_rate <= 0:
        problems.append(f"learning_rate must be positive (got {options.learning_rate})")
    if not 0 <= options.warmup_fraction < 1:
        problems.append(f"warmup_fraction must be in [0, 1) (got {options.warmup_fraction})")
    if not 0 <= options.dropout < 1:
        problems.append(f"dropout must be in [0, 1) (got {options.dropout})")
    if not 0 < options.min_temperature <= options.initial_temperature <= 1:
        problems.append("temperatures must satisfy 0 < min_temperature <= initial_temperature <= 1 "
                        f"(got {options.min_temperature}, {options.initial_temperature})")
    if options.weight_decay < 0:
        problems.append(f"weight_decay must be >= 0 (got {options.weight_decay})")
    if problems:
        raise ConfigError("Trainer custom_config: " + "; ".join(f"trainer.{p}" for p in problems))


def as_dict(options: TrainerConfig) -> dict[str, Any]:
    return dataclasses.asdict(options)
