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
