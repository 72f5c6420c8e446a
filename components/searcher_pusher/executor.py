"""Pusher executor: the work is `push_searcher`, callable without an orchestrator."""

from __future__ import annotations

import datetime
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.common import formats, serving

VALIDATION_FILES = (formats.VALIDATION_SUMMARY,)


def push_searcher(
    searcher_dir: str, blessing_dir: str, blessed: bool, serving_dir: str, info: dict[str, Any]
) -> tuple[int, str] | None:
    """Publishes the searcher when blessed; returns (version, directory) or None."""
    if not blessed:
        logging.warning("searcher in %s is not blessed; nothing pushed", searcher_dir)
        return None
    files = {name: os.path.join(searcher_dir, name) for name in sorted(os.listdir(searcher_dir))}
    for name in VALIDATION_FILES:
        path = os.path.join(blessing_dir, name)
        if os.path.exists(path):
            files[name] = path
    if formats.SEARCHER_TFLITE not in files:
        raise FileNotFoundError(f"{searcher_dir}: no {formats.SEARCHER_TFLITE} to push")
    return serving.publish(files, serving_dir, info)


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        searcher = artifact_utils.get_single_instance(input_dict["searcher"])
        blessing = artifact_utils.get_single_instance(input_dict["searcher_blessing"])
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        blessed = blessing.get_int_custom_property("blessed") == 1
        info = {
            "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "pipeline_run_id": self._context.pipeline_run_id if self._context else None,
            "searcher_artifact_id": searcher.id,
            "searcher_uri": searcher.uri,
            "searcher_blessing_artifact_id": blessing.id,
            "code_version": exec_properties.get("code_version"),
        }
        result = push_searcher(
            searcher.uri, blessing.uri, blessed, exec_properties["serving_dir"], info
        )
        if result is None:
            pushed.set_int_custom_property("pushed", 0)
            return
        version, directory = result
        pushed.set_int_custom_property("pushed", 1)
        pushed.set_int_custom_property("version", version)
        pushed.set_string_custom_property("pushed_destination", os.path.abspath(directory))
        logging.info("searcher pushed as version %d to %s", version, directory)
