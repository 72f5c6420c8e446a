"""Where a DAG runs: every environment-specific value of the DAGs, in one object the
runner builds and passes to `create_pipeline` / `create_rebuild_pipeline`.

The DAG modules read none of these from the config themselves: a local run and a
Kubeflow compile of the same config differ only in this object, so a path of the
compiling machine cannot leak into a cluster's spec by a forgotten branch.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import posixpath
from typing import Any, Optional

from t2i import beam_options

# The curated schema, relative to the project's code root (the package data of the wheel).
SCHEMA_IN_CODE = posixpath.join("t2i", "schema", "schema.pbtxt")
_LOCAL_CODE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL, KUBEFLOW = "local", "kubeflow"


@dataclasses.dataclass(frozen=True)
class RunEnvironment:
    orchestrator: str  # local | kubeflow (Kubeflow's compiler supports fewer resolvers)
    root: str  # the t2i root (local: metadata store, logs; Kubeflow: the bucket prefix)
    pipeline_root: str
    data_dir: str
    serving_dir: str
    schema_file: str
    beam_args: tuple
    # ML Metadata: the local SQLite store; None on Kubeflow (the cluster's own store).
    metadata_connection: Optional[Any]

    @property
    def kubeflow(self) -> bool:
        return self.orchestrator == KUBEFLOW


def local(config) -> RunEnvironment:
    """This machine: paths under pipeline.root, the checkout's schema unless configured."""
    from t2i import mlmd
    from t2i.paths import Paths

    paths = Paths.from_config(config)
    return RunEnvironment(
        orchestrator=LOCAL,
        root=paths.root,
        pipeline_root=paths.pipeline_root,
        data_dir=config.data.data_dir,
        serving_dir=paths.serving_dir,
        schema_file=config.pipeline.schema_file or os.path.join(_LOCAL_CODE_ROOT, SCHEMA_IN_CODE),
        beam_args=tuple(beam_options.build(config.pipeline.beam_args, image=config.kubeflow.image)),
        metadata_connection=mlmd.sqlite_connection_config(paths.root),
    )


def kubeflow(config, image: Optional[str] = None) -> RunEnvironment:
    """The cluster: the `kubeflow` section's buckets, the schema and the wheel inside the
    image (kubeflow.code_root, where docker/Dockerfile installs the project)."""
    from importlib import metadata

    from t2i.paths import Paths

    section = copy.deepcopy(config.kubeflow)
    if image:
        section.image = image
    paths = Paths.of(section.pipeline_root, config.pipeline.name, section.serving_dir)
    wheel = beam_options.image_wheel(section.code_root, metadata.version("t2i-searcher"))
    return RunEnvironment(
        orchestrator=KUBEFLOW,
        root=paths.root,
        pipeline_root=paths.pipeline_root,
        data_dir=section.data_dir,
        serving_dir=paths.serving_dir,
        # A configured schema counts only as a URI (a bucket); a path would be this machine's.
        schema_file=(
            config.pipeline.schema_file
            if "://" in config.pipeline.schema_file
            else posixpath.join(section.code_root, SCHEMA_IN_CODE)
        ),
        beam_args=tuple(
            beam_options.build(config.pipeline.beam_args, image=section.image, wheel=wheel)
        ),
        metadata_connection=None,
    )
