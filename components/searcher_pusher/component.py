"""Pusher: publishes a blessed searcher as the next version under the serving directory."""

import os

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts

from components.common.artifacts import Searcher, SearcherBlessing
from components.common.code_version import code_version
from components.searcher_pusher import executor


class SearcherPusherSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        "serving_dir": component_spec.ExecutionParameter(type=str),
        "code_version": component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {
        "searcher": component_spec.ChannelParameter(type=Searcher),
        "searcher_blessing": component_spec.ChannelParameter(type=SearcherBlessing),
    }
    OUTPUTS = {
        "pushed_model": component_spec.ChannelParameter(type=standard_artifacts.PushedModel),
    }


class SearcherPusher(base_component.BaseComponent):
    """Copies searcher.tflite, image_searcher.tflite, the server index and summaries to
    `<serving_dir>/<version>/` and switches `<serving_dir>/latest` atomically. An unblessed
    searcher is recorded as not pushed (custom property pushed=0) and copied nowhere."""

    SPEC_CLASS = SearcherPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        searcher: channel.BaseChannel,
        searcher_blessing: channel.BaseChannel,
        serving_dir: str,
    ):
        super().__init__(
            spec=SearcherPusherSpec(
                searcher=searcher,
                searcher_blessing=searcher_blessing,
                serving_dir=serving_dir,
                code_version=code_version(os.path.dirname(__file__)),
                pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
            )
        )
