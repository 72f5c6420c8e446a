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


@dataclass
class DataConfig:
    # A COCO root (annotations/captions_<split>.json + <split>/), a generic collection
    # (one annotations JSON + one image folder), or a folder of span-<N>/ of either.
    data_dir: str = "runs/sample-data"
    # Relative to data_dir (and to each span-<N>/). annotations_file may be a glob (e.g.
    # "annotations/captions_*2014.json" to pick COCO 2014); empty = COCO's
    # annotations/captions_*.json, else the *.json at the top of a generic collection.
    # image_dir empty = COCO's <name>/ for captions_<name>.json, else the one sub-folder.
    annotations_file: str = ""
    image_dir: str = ""
    # "hash": deterministic split by image id; "coco": COCO's own train/val files.
    split: str = "hash"
    eval_fraction: float = 0.2
    # Images above this many pixels are skipped as decompression bombs.
    max_image_pixels: int = 40_000_000
    # Which span(s) to ingest when data_dir holds span-<N>/ folders: "latest" or "all".
    spans: str = "all"


@dataclass
class TrainerConfig:
    # The defaults are the offline pretrained towers (weights inside installed packages;
    # bench/towers_bench.py compares the pairs): efficientnet_lite0 | efficientnet_b0..b3 |
    # small_cnn (from scratch: tests, tiny demos) | a TF Hub handle or SavedModel path.
    image_tower: str = "efficientnet_lite0"
    # efficientnet_lite0: "" (its packaged ImageNet weights) or "none"; efficientnet_b0..b3:
    # "imagenet" (downloads: needs the network), "none" or a weights file.
    image_weights: str = ""
    # minilm_l6 | use_multilingual | small_text (from scratch: tests, tiny demos) | a TF Hub
    # BERT-style encoder or SavedModel with its tokenizer.
    text_tower: str = "minilm_l6"
    # 0 = the tower's own: 224 px for pretrained image towers, 64 px for small_cnn (tuned
    # on the 2,000-image sample); 32 tokens for BERT-layout text towers, 24 for small_text.
    image_size: int = 0
    embedding_dim: int = 128
    max_tokens: int = 0
    vocab_min_count: int = 1
    vocab_max_size: int = 20000
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 1e-4
    dropout: float = 0.1
    initial_temperature: float = 0.07
    # The learnable temperature is clipped to [min_temperature, 1] (CLIP: logit scale <= 100).
    min_temperature: float = 0.01
    freeze_backbone: bool = True
    # Frozen backbones: their features are computed once per image and caption; with a
    # directory here they are also kept there, keyed by backbone and data, and reused by
    # later runs (empty: recomputed every training run).
    feature_cache_dir: str = ""
    # Heads on frozen backbones' features: at least this many gradient steps (a collection
    # of 80 images at batch 64 is one step an epoch); such epochs cost milliseconds.
    min_steps: int = 300
    seed: int = 42
    # small_cnn: filters of the first stage (doubling per stage). small_text: token
    # embedding width, transformer layers and attention heads.
    image_width: int = 16
    text_width: int = 128
    text_layers: int = 1
    text_heads: int = 4


@dataclass
class EvaluatorConfig:
    # Blessed when text->image R@10 >= min_recall_at_10 and not more than
    # max_regression below the latest blessed model's.
    min_recall_at_10: float = 0.5
    max_regression: float = 0.02
    contact_sheet_queries: int = 6


@dataclass
class EmbedderConfig:
    batch_size: int = 64
    # Beam DirectRunner workers for multi-processing mode; 0 = one per core.
    num_workers: int = 0
    # Below this many images run in-process: multi-processing start-up costs 13-19 s.
    multiprocessing_min_images: int = 100_000
    incremental: bool = True


@dataclass
class ExporterConfig:
    quantize: bool = False
    model_name: str = "t2i text encoder"
    author: str = "t2i-searcher"
    min_cosine_float: float = 0.999
    min_cosine_quantized: float = 0.99


@dataclass
class SearcherConfig:
    distance: str = "dot_product"  # dot_product | squared_l2
    scoring: str = "ah"  # ah (asymmetric hashing) | brute_force
    num_leaves: int = 0  # 0 = about sqrt(N)
    num_leaves_to_search: int = 0  # 0 = auto-tune to target_recall_at_10
    training_sample_size: int = 100_000
    dimensions_per_block: int = 1
    anisotropic_quantization_threshold: float = 0.2
    lookup: str = "auto"  # auto | int8 | float
    target_recall_at_10: float = 0.95
    tuning_queries: int = 200
    seed: int = 7
    # A rebuild extends the previous index (its leaves and codebook) while the collection
    # has grown by at most this fraction of it; beyond, the index is trained afresh.
    incremental_max_growth: float = 0.5


@dataclass
class ValidatorConfig:
    min_recall_at_10: float = 0.95
    max_queries: int = 500


@dataclass
class PusherConfig:
    serving_dir: str = ""  # empty: <pipeline.root>/serving


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
    root: str = "runs"
    enable_cache: bool = True
    beam_args: list[str] = field(default_factory=list)
    # The curated schema ImportSchemaGen imports; empty = pipeline/schema/schema.pbtxt.
    schema_file: str = ""


@dataclass
class Config:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    exporter: ExporterConfig = field(default_factory=ExporterConfig)
    searcher: SearcherConfig = field(default_factory=SearcherConfig)
    validator: ValidatorConfig = field(default_factory=ValidatorConfig)
    pusher: PusherConfig = field(default_factory=PusherConfig)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)

    def serving_dir(self) -> str:
        """Where pushed searchers go: pusher.serving_dir, else <pipeline.root>/serving."""
        return os.path.abspath(self.pusher.serving_dir or os.path.join(self.pipeline.root, "serving"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


class ConfigError(ValueError):
    """A config file or override that does not fit the schema; the message says where."""


def load_config(path: str | None = None, overrides: typing.Iterable[str] = ()) -> Config:
    config = Config()
    if path:
        apply_mapping(config, read_config_file(path), source=path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected section.field=value")
        set_value(config, key.strip(), value.strip(), source="command line")
    return config


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
        section = _section(config, section_name, source)
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section_name!r} must be a mapping")
        for name, value in values.items():
            _assign(section, section_name, name, value, source, parse_strings=False)


def set_value(config: Config, dotted_key: str, value: Any, source: str) -> None:
    section_name, _, name = dotted_key.partition(".")
    if not name:
        raise ConfigError(f"{source}: {dotted_key!r}: expected section.field")
    section = _section(config, section_name, source)
    _assign(section, section_name, name, value, source, parse_strings=isinstance(value, str))


def _section(config: Config, name: str, source: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    if name not in names:
        raise ConfigError(f"{source}: unknown section {name!r} (sections: {', '.join(names)})")
    return getattr(config, name)


def _assign(section: Any, section_name: str, name: str, value: Any, source: str,
            parse_strings: bool) -> None:
    hints = typing.get_type_hints(type(section))
    if name not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise ConfigError(f"{source}: unknown field {section_name}.{name} (fields: {known})")
    try:
        setattr(section, name, _coerce(hints[name], value, parse_strings))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {section_name}.{name}: {e}") from e


def _coerce(hint: Any, value: Any, parse_strings: bool) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        if parse_strings and isinstance(value, str):
            value = [v for v in value.split(",") if v] if value else []
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        (item_type,) = typing.get_args(hint)
        return [_coerce(item_type, v, parse_strings) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise TypeError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError(f"expected an integer, got {value!r}")
        try:
            return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        except ValueError:
            raise TypeError(f"expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise TypeError(f"expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported field type {hint!r}")
