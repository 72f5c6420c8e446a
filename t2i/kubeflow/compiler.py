"""Compiling the DAGs for Kubeflow Pipelines and Vertex AI, offline.

Compiling is TFX's KubeflowV2DagRunner (the only Kubeflow runner in TFX 1.16) with
pipeline spec 2.1: it writes the KFP pipeline spec (`.yaml`, what kfp.Client takes) and
the Vertex PipelineJob (`.json`, what aiplatform.PipelineJob takes).

The DAG is built by t2i.dags.create_pipeline / create_rebuild_pipeline from a copy of the
config that points at the cluster: pipeline root, data and serving dirs from the
`kubeflow` section, the curated schema inside the image (`kubeflow.code_root`, where
docker/Dockerfile installs the project), and a Beam dependency flag naming the image, so
TFX does not build a tfx sdist in every Beam component (the image already has our code).
The Trainer's run_fn is referenced by name, so there is no user module to package.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import posixpath
from typing import Optional

from t2i.configs import Config
from t2i.kubeflow.errors import KubeflowError, quiet

PIPELINE_KINDS = ("full", "rebuild")
SPEC_SCHEMA_VERSION = "2.1.0"
# Relative to the project root, inside the image as on this machine.
SCHEMA_IN_CODE = posixpath.join("t2i", "schema", "schema.pbtxt")
# Any of these in the Beam args stops TFX from building a tfx sdist per Beam execution.
BEAM_DEPENDENCY_FLAGS = ("--extra_package", "--setup_file", "--requirements_file",
                         "--sdk_container_image")


@dataclasses.dataclass
class CompiledPipeline:
    kind: str
    name: str
    yaml_path: str  # the KFP pipeline spec: kfp.Client.create_run_from_pipeline_package
    json_path: str  # the Vertex PipelineJob: aiplatform.PipelineJob(template_path=...)
    image: str
    pipeline_root: str
    tasks: list[str]
    enable_cache: bool


def for_kubeflow(config: Config, image: Optional[str] = None) -> Config:
    """A copy of `config` whose paths are the cluster's and the image's, not this machine's."""
    kfp_config = copy.deepcopy(config)
    section = kfp_config.kubeflow
    if image:
        section.image = image
    kfp_config.pipeline.root = section.pipeline_root
    kfp_config.data.data_dir = section.data_dir
    kfp_config.pusher.serving_dir = section.serving_dir
    if not kfp_config.pipeline.schema_file:
        kfp_config.pipeline.schema_file = posixpath.join(section.code_root, SCHEMA_IN_CODE)
    kfp_config.pipeline.beam_args = container_beam_args(kfp_config.pipeline.beam_args, section.image)
    return kfp_config


def container_beam_args(beam_args: list[str], image: str) -> list[str]:
    """Adds --sdk_container_image=<image> unless a dependency flag is already there."""
    args = list(beam_args)
    if not any(arg.split("=", 1)[0] in BEAM_DEPENDENCY_FLAGS for arg in args):
        args.append(f"--sdk_container_image={image}")
    return args


def build_dag(config: Config, kind: str):
    """The TFX pipeline of `kind` (full | rebuild) from t2i/dags.py."""
    if kind not in PIPELINE_KINDS:
        raise KubeflowError(f"unknown pipeline {kind!r} (choose from {', '.join(PIPELINE_KINDS)})")
    from t2i import dags

    factory = dags.create_pipeline if kind == "full" else dags.create_rebuild_pipeline
    # kubeflow=True: only resolver strategies Kubeflow's v2 compiler knows (t2i/resolvers.py).
    return factory(config, kubeflow=True)


def compile_pipeline(config: Config, kind: str = "full", image: Optional[str] = None,
                     out: Optional[str] = None) -> CompiledPipeline:
    """Builds the `kind` DAG for the cluster and compiles it; works offline."""
    kfp_config = for_kubeflow(config, image)
    yaml_path, json_path = output_paths(config, kind, out)
    return compile_dag(build_dag(kfp_config, kind), kfp_config.kubeflow.image, yaml_path,
                       json_path, kind)


def output_paths(config: Config, kind: str, out: Optional[str]) -> tuple[str, str]:
    """(.yaml, .json): both next to `out` whichever of the two it names; by default
    <pipeline.root>/kubeflow/<name>-<kind>.*."""
    if not out:
        out = os.path.join(config.pipeline.root, "kubeflow", f"{config.pipeline.name}-{kind}.yaml")
    stem, ext = os.path.splitext(out)
    if ext not in (".yaml", ".yml", ".json"):
        raise KubeflowError(f"--out {out}: name a .yaml (KFP spec) or .json (Vertex job) file")
    if ext == ".json":
        return stem + ".yaml", out
    return out, stem + ".json"


def compile_dag(tfx_pipeline, image: str, yaml_path: str, json_path: str,
                kind: str = "full") -> CompiledPipeline:
    """Compiles a TFX pipeline with KubeflowV2DagRunner (spec 2.1) into both files."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(os.path.abspath(json_path)))
    with quiet():
        job = runner.run(tfx_pipeline, write_out=False)  # we write both formats below
    spec = job["pipelineSpec"]
    if spec.get("schemaVersion") != SPEC_SCHEMA_VERSION:
        raise KubeflowError(f"compiled spec has schema {spec.get('schemaVersion')}, "
                            f"expected {SPEC_SCHEMA_VERSION}")
    # What kfp.Client does with the .yaml: a spec it cannot parse fails here, not there.
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    for path in (yaml_path, json_path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_yaml(spec, yaml_path, kind)
    with open(json_path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    tasks = sorted(spec["root"]["dag"]["tasks"])
    return CompiledPipeline(
        kind=kind, name=spec["pipelineInfo"]["name"], yaml_path=yaml_path, json_path=json_path,
        image=image, pipeline_root=tfx_pipeline.pipeline_info.pipeline_root, tasks=tasks,
        enable_cache=bool(tfx_pipeline.enable_cache))


def _write_yaml(spec: dict, path: str, kind: str) -> None:
    import yaml

    with open(path, "w") as f:
        f.write(f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n"
                f"# t2i {kind} DAG, compiled by TFX KubeflowV2DagRunner (pipeline spec "
                f"{spec['schemaVersion']}) for kfp.Client\n")
        yaml.safe_dump(spec, f, sort_keys=True)
