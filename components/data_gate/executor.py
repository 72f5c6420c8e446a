"""DataGate executor: stop the run when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing downstream would notice them. This gate
reads its SchemaDiff.pb per split and fails with a message a person can act on.
"""

from __future__ import annotations

import os
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(RuntimeError):
    pass


def describe_anomalies(anomalies_uri: str, splits: list[str]) -> list[str]:
    """One line per anomaly: `split 'eval': feature 'captions': <description>`."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    problems = []
    for split in splits:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            text = info.description or info.short_description or "anomaly"
            problems.append(f"split {split!r}: feature {feature!r}: {text}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(
                f"split {split!r}: dataset: {info.description or info.short_description}"
            )
    return problems


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        anomalies = artifact_utils.get_single_instance(input_dict["anomalies"])
        splits = artifact_utils.decode_split_names(anomalies.split_names)
        problems = describe_anomalies(anomalies.uri, splits)
        if problems:
            listed = "\n  ".join(problems)
            raise DataAnomaliesError(
                f"ExampleValidator found {len(problems)} anomalies; fix the data or the schema "
                f"and run again:\n  {listed}"
            )
