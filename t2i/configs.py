"""The one typed configuration: defaults here, overridable from a YAML/TOML file and the CLI.

Sections mirror the DAG. `load_config(path, overrides)` is the only way a run gets its
config; `config.to_dict()` is what each run records (run directory and ML Metadata).
Overrides are `section.field=value` strings; values are parsed to the field's type.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from components.coco_example_gen import options as data_options
from components.coco_example_gen.options import DataOptions
from components.common.options import ConfigError, apply_values, assign
from components.image_embedder import options as embedder_options
from components.image_embedder.options import EmbedderOptions
from components.retrieval_evaluator import options as evaluator_options
from components.retrieval_evaluator.options import EvaluatorOptions
from components.searcher_builder import options as searcher_options
from components.searcher_builder.options import SearcherOptions
from components.searcher_pusher.options import PusherOptions
from components.searcher_validator import options as validator_options
from components.searcher_validator.options import ValidatorOptions
from components.text_encoder_exporter import options as exporter_options
from components.text_encoder_exporter.options import ExporterOptions
from components.trainer import options as trainer_options
from components.trainer.options import TrainerOptions
from t2i.paths import DEFAULT_ROOT, SAMPLE_DATA_DIR

__all__ = ["Config", "ConfigError", "KubeflowConfig", "PipelineConfig", "load_config", "validate"]


@dataclass
class KubeflowConfig:
    image: str = "t2i-searcher:0.1.0"
    pipeline_root: str = "gs://YOUR_BUCKET/t2i"
    data_dir: str = "gs://YOUR_BUCKET/t2i-data"
    serving_dir: str = "gs://YOUR_BUCKET/t2i-serving"
    # Where docker/Dockerfile puts the project inside the image: compiled specs point
    # files shipped with the code (the curated schema) there, not at this machine's paths.
    code_root: str = "/opt/t2i-searcher"


@dataclass
class PipelineConfig:
    name: str = "t2i-searcher"
    root: str = DEFAULT_ROOT
    enable_cache: bool = True
    beam_args: list[str] = field(default_factory=list)
    # The curated schema ImportSchemaGen imports; empty = t2i/schema/schema.pbtxt.
    schema_file: str = ""


@dataclass
class Config:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    data: DataOptions = field(default_factory=lambda: DataOptions(data_dir=SAMPLE_DATA_DIR))
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    evaluator: EvaluatorOptions = field(default_factory=EvaluatorOptions)
    embedder: EmbedderOptions = field(default_factory=EmbedderOptions)
    exporter: ExporterOptions = field(default_factory=ExporterOptions)
    searcher: SearcherOptions = field(default_factory=SearcherOptions)
    validator: ValidatorOptions = field(default_factory=ValidatorOptions)
    pusher: PusherOptions = field(default_factory=PusherOptions)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def load_config(path: str | None = None, overrides: typing.Iterable[str] = ()) -> Config:
    config = Config()
    if path:
        apply_mapping(config, read_config_file(path), source=path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected section.field=value")
        set_value(config, key.strip(), value.strip(), source="command line")
    validate(config)
    return config


# Each section's rules live with its options (components/<name>/options.py: problems), so a
# component that runs without the app checks the same rules at its own boundary.
SECTION_RULES: dict[str, typing.Callable[[Any], list[str]]] = {
    "data": data_options.problems,
    "trainer": trainer_options.problems,
    "searcher": searcher_options.problems,
    "evaluator": evaluator_options.problems,
    "embedder": embedder_options.problems,
    "exporter": exporter_options.problems,
    "validator": validator_options.problems,
}


def validate(config: Config) -> None:
    """Every rule on the config's values, checked in one pass before the DAG is built and
    before TFX is imported (load_config calls it): one ConfigError lists every problem."""
    problems = [
        problem
        for section, rules in SECTION_RULES.items()
        for problem in rules(getattr(config, section))
    ]
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))


def read_config_file(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such config file")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if path.endswith(".toml"):
            import tomli

            data = tomli.loads(raw.decode("utf-8"))
        elif path.endswith((".yaml", ".yml", ".json")):
            import yaml

            data = yaml.safe_load(raw) or {}
        else:
            raise ConfigError(f"{path}: config files are .yaml, .yml, .toml or .json")
    except ConfigError:
        raise
    except Exception as e:  # the parsers' messages carry line and column
        raise ConfigError(f"{path}: cannot parse: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def apply_mapping(config: Config, data: dict[str, Any], source: str) -> None:
    for section_name, values in data.items():
        apply_values(
            _section(config, section_name, source), values, section=section_name, source=source
        )


def set_value(config: Config, dotted_key: str, value: Any, source: str) -> None:
    section_name, _, name = dotted_key.partition(".")
    if not name:
        raise ConfigError(f"{source}: {dotted_key!r}: expected section.field")
    section = _section(config, section_name, source)
    assign(section, section_name, name, value, source, parse_strings=isinstance(value, str))


def _section(config: Config, name: str, source: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    if name not in names:
        raise ConfigError(f"{source}: unknown section {name!r} (sections: {', '.join(names)})")
    return getattr(config, name)
