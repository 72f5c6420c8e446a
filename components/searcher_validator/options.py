"""SearcherValidator's options: the `validator` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ValidatorOptions:
    min_recall_at_10: float = 0.95
    max_queries: int = 500


def problems(options: ValidatorOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = []
    if not 0.0 <= options.min_recall_at_10 <= 1.0:
        found.append(
            f"validator.min_recall_at_10 must be in [0, 1], got {options.min_recall_at_10!r}"
        )
    if options.max_queries < 1:
        found.append(f"validator.max_queries must be >= 1, got {options.max_queries}")
    return found
