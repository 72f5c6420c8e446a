"""SearcherValidator's options: the `validator` section of the app's config (t2i/configs.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ValidatorOptions:
    min_recall_at_10: float = 0.95
    max_queries: int = 500
