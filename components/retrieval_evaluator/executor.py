"""RetrievalEvaluator executor: unpacks the artifacts, calls work.evaluate() and records
the verdict on the blessing."""

from __future__ import annotations

import os

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.common import formats
from components.common.options import from_properties
from components.retrieval_evaluator import blessing as rule
from components.retrieval_evaluator.options import EvaluatorOptions
from components.retrieval_evaluator.work import evaluate


class Executor(base_executor.BaseExecutor):
    """Unpacks the artifacts, calls evaluate(), records the verdict as TFX's Evaluator does
    (BLESSED / NOT_BLESSED file; `blessed`, `current_model`, `current_model_id` custom
    properties, which LatestBlessedModelStrategy reads)."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        examples = input_dict["examples"]
        model = artifact_utils.get_single_instance(input_dict["model"])
        baseline = input_dict.get("baseline_model") or []
        baseline = baseline[0] if baseline else None
        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])

        eval_uri = artifact_utils.get_split_uri(examples, formats.SPLIT_EVAL)
        options = from_properties(EvaluatorOptions, exec_properties)
        summary = evaluate(
            [io_utils.all_files_pattern(eval_uri)],
            _serving_dir(model),
            evaluation.uri,
            baseline_serving_dir=_serving_dir(baseline) if baseline else None,
            min_recall_at_10=options.min_recall_at_10,
            max_regression=options.max_regression,
            contact_sheet_queries=options.contact_sheet_queries,
        )

        for direction in ("text_to_image", "image_to_text"):
            for name, value in summary[direction].items():
                if name != "queries":
                    key = f"{direction}_{name.replace('@', '_at_')}"
                    evaluation.set_float_custom_property(key, float(value))
        evaluation.set_int_custom_property("eval_images", summary["eval_images"])
        evaluation.set_int_custom_property("eval_captions", summary["eval_captions"])

        blessing.set_string_custom_property(rule.CURRENT_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(rule.CURRENT_MODEL_ID_KEY, model.id)
        if baseline is not None:
            blessing.set_string_custom_property(rule.BASELINE_MODEL_URI_KEY, baseline.uri)
            blessing.set_int_custom_property(rule.BASELINE_MODEL_ID_KEY, baseline.id)
        blessing.set_float_custom_property(
            "text_to_image_recall_at_10", summary["text_to_image"]["recall@10"]
        )
        blessing.set_string_custom_property(rule.REASON_KEY, summary["reason"])
        marker = rule.BLESSED_FILE_NAME if summary["blessed"] else rule.NOT_BLESSED_FILE_NAME
        io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
        blessing.set_int_custom_property(
            rule.BLESSED_KEY, rule.BLESSED_VALUE if summary["blessed"] else rule.NOT_BLESSED_VALUE
        )


def _serving_dir(model) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
