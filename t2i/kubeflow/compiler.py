"""Compiling the DAGs for Kubeflow Pipelines and Vertex AI, offline.

Compiling is TFX's KubeflowV2DagRunner (the only Kubeflow runner in TFX 1.16) with
pipeline spec 2.1: it writes the KFP pipeline spec (`.yaml`, what kfp.Client takes) and
the Vertex PipelineJob (`.json`, what aiplatform.PipelineJob takes).

The DAG is built by t2i.dags.create_pipeline / create_rebuild_pipeline for the cluster's
RunEnvironment (t2i/run_environment.py): pipeline root, data and serving dirs from the
`kubeflow` section, the curated schema inside the image (`kubeflow.code_root`, where
docker/Dockerfile installs the project's wheel), Beam args from the one builder
(t2i/beam_options.py) with the image and that wheel.
The Trainer's run_fn is referenced by name, so there is no user module to package.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

from t2i.configs import Config
from t2i.kubeflow.errors import KubeflowError, quiet

PIPELINE_KINDS = ("full", "rebuild")
SPEC_SCHEMA_VERSION = "2.1.0"


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


def build_dag(config: Config, kind: str, env):
    """The TFX pipeline of `kind` (full | rebuild) from t2i/dags.py for `env`."""
    if kind not in PIPELINE_KINDS:
        raise KubeflowError(f"unknown pipeline {kind!r} (choose from {', '.join(PIPELINE_KINDS)})")
    from t2i import dags

    factory = dags.create_pipeline if kind == "full" else dags.create_rebuild_pipeline
    return factory(config, env)


def compile_pipeline(
    config: Config, kind: str = "full", image: Optional[str] = None, out: Optional[str] = None
) -> CompiledPipeline:
    """Builds the `kind` DAG for the cluster and compiles it; works offline."""
    from t2i import run_environment

    env = run_environment.kubeflow(config, image)
    yaml_path, json_path = output_paths(config, kind, out)
    return compile_dag(
        build_dag(config, kind, env), image or config.kubeflow.image, yaml_path, json_path, kind
    )


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


def compile_dag(
    tfx_pipeline, image: str, yaml_path: str, json_path: str, kind: str = "full"
) -> CompiledPipeline:
    """Compiles a TFX pipeline with KubeflowV2DagRunner (spec 2.1) into both files."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(os.path.abspath(json_path)),
    )
    with quiet():
        job = runner.run(tfx_pipeline, write_out=False)  # we write both formats below
    spec = job["pipelineSpec"]
    _name_custom_types_in_resolver_queries(spec)
    if spec.get("schemaVersion") != SPEC_SCHEMA_VERSION:
        raise KubeflowError(
            f"compiled spec has schema {spec.get('schemaVersion')}, expected {SPEC_SCHEMA_VERSION}"
        )
    # What kfp.Client does with the .yaml: a spec it cannot parse fails here, not there.
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    for path in (yaml_path, json_path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_yaml(spec, yaml_path, kind)
    with open(json_path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    tasks = sorted(spec["root"]["dag"]["tasks"])
    return CompiledPipeline(
        kind=kind,
        name=spec["pipelineInfo"]["name"],
        yaml_path=yaml_path,
        json_path=json_path,
        image=image,
        pipeline_root=tfx_pipeline.pipeline_info.pipeline_root,
        tasks=tasks,
        enable_cache=bool(tfx_pipeline.enable_cache),
    )


_ANY_ARTIFACT_TITLE = 'schema_title="tfx.Artifact"'


def _name_custom_types_in_resolver_queries(spec: dict) -> None:
    """TFX 1.16's v2 compiler writes `schema_title="tfx.Artifact"` into a resolver's query
    for any type outside TFX's standard ones (compiler_utils.get_artifact_title), while the
    artifacts themselves carry their own title (`t2i.Embeddings`): on Vertex AI the
    LatestEmbeddings / LatestSearcher queries would never match. Each query gets the title
    its own output definition declares."""
    import yaml

    for component in spec["components"].values():
        executor = spec["deploymentSpec"]["executors"].get(component.get("executorLabel"), {})
        queries = executor.get("resolver", {}).get("outputArtifactQueries", {})
        for key, query in queries.items():
            if _ANY_ARTIFACT_TITLE not in query.get("filter", ""):
                continue
            artifact_type = component["outputDefinitions"]["artifacts"][key]["artifactType"]
            title = (
                artifact_type.get("schemaTitle")
                or yaml.safe_load(artifact_type["instanceSchema"])["title"]
            )
            query["filter"] = query["filter"].replace(
                _ANY_ARTIFACT_TITLE, f'schema_title="{title}"'
            )


def _write_yaml(spec: dict, path: str, kind: str) -> None:
    import yaml

    with open(path, "w") as f:
        f.write(
            f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n"
            f"# t2i {kind} DAG, compiled by TFX KubeflowV2DagRunner (pipeline spec "
            f"{spec['schemaVersion']}) for kfp.Client\n"
        )
        yaml.safe_dump(spec, f, sort_keys=True)
