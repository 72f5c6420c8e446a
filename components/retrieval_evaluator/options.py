"""RetrievalEvaluator's options: the `evaluator` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EvaluatorOptions:
    # Blessed when text->image R@10 >= min_recall_at_10 and not more than
    # max_regression below the latest blessed model's.
    min_recall_at_10: float = 0.5
    max_regression: float = 0.02
    contact_sheet_queries: int = 6


def problems(options: EvaluatorOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = [
        f"evaluator.{name} must be in [0, 1], got {value!r}"
        for name, value in (
            ("min_recall_at_10", options.min_recall_at_10),
            ("max_regression", options.max_regression),
        )
        if not 0.0 <= value <= 1.0
    ]
    if options.contact_sheet_queries < 0:
        found.append(
            f"evaluator.contact_sheet_queries must be >= 0, got {options.contact_sheet_queries}"
        )
    return found
