"""DataGate: a node the Trainer waits for, failing the run when the data has anomalies."""

import os

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts

from components.common.code_version import code_version
from components.data_gate import executor


class DataGateSpec(component_spec.ComponentSpec):
    PARAMETERS = {"code_version": component_spec.ExecutionParameter(type=str)}
    INPUTS = {
        "anomalies": component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies)
    }
    OUTPUTS = {}


class DataGate(base_component.BaseComponent):
    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: channel.BaseChannel):
        super().__init__(
            spec=DataGateSpec(
                anomalies=anomalies, code_version=code_version(os.path.dirname(__file__))
            )
        )
