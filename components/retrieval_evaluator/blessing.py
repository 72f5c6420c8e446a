"""The blessing rule and how a blessing is recorded (TF-free, TFX-free).

Names follow TFX's Evaluator (tfx/components/evaluator/constants.py; a test checks they
still match) because TFX's LatestBlessedModelStrategy resolver reads them: `blessed`
(1/0) and `current_model_id` on the ModelBlessing. Importing TFX's constants module would
import every TFX component (docs/STACK.md §6), hence the copies.
"""

from __future__ import annotations

BLESSED_KEY, BLESSED_VALUE, NOT_BLESSED_VALUE = "blessed", 1, 0
CURRENT_MODEL_URI_KEY, CURRENT_MODEL_ID_KEY = "current_model", "current_model_id"
BASELINE_MODEL_URI_KEY, BASELINE_MODEL_ID_KEY = "baseline_model", "baseline_model_id"
BLESSED_FILE_NAME, NOT_BLESSED_FILE_NAME = "BLESSED", "NOT_BLESSED"
REASON_KEY = "blessing_reason"  # ours: the one-line why


def verdict(
    recall_at_10: float,
    baseline_recall_at_10: float | None,
    min_recall_at_10: float,
    max_regression: float,
) -> tuple[bool, str]:
    """Blessed when text->image R@10 >= the threshold and, if a blessed baseline exists,
    not more than max_regression below the baseline's R@10 on the same data."""
    if recall_at_10 < min_recall_at_10:
        return False, (
            f"text->image R@10 {recall_at_10:.4f} is below min_recall_at_10 {min_recall_at_10:.4f}"
        )
    if baseline_recall_at_10 is None:
        return True, (
            f"text->image R@10 {recall_at_10:.4f} >= min_recall_at_10 "
            f"{min_recall_at_10:.4f} (no blessed baseline yet)"
        )
    drop = baseline_recall_at_10 - recall_at_10
    if drop > max_regression:
        return False, (
            f"text->image R@10 {recall_at_10:.4f} is {drop:.4f} below the latest "
            f"blessed model's {baseline_recall_at_10:.4f} (max_regression "
            f"{max_regression:.4f})"
        )
    return True, (
        f"text->image R@10 {recall_at_10:.4f} >= min_recall_at_10 {min_recall_at_10:.4f} "
        f"and at most {max_regression:.4f} below the latest blessed model's "
        f"{baseline_recall_at_10:.4f}"
    )


def read(blessing_artifact) -> tuple[bool, str]:
    """(blessed, reason) of a ModelBlessing this evaluator wrote: what a downstream component
    checks before building an index from the model."""
    blessed = blessing_artifact.get_int_custom_property(BLESSED_KEY) == BLESSED_VALUE
    return blessed, blessing_artifact.get_string_custom_property(REASON_KEY)
