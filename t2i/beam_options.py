"""The one Beam-args builder: the user's Beam args made right for their runner family.

Used by local runs and by the Kubeflow image alike (t2i.dags, through t2i/run_environment.py).

- DirectRunner (the default; in-memory or multi-processing): workers are processes of this
  machine's environment. Nothing is staged.
- Portable runners (PortableRunner, FlinkRunner, SparkRunner; a Beam job service): workers
  run in the environment named by `--environment_type/--environment_config`. Portable
  runners ignore `--sdk_container_image`, so without an environment flag their workers
  would start the stock `apache/beam_python3.10_sdk` image, which has neither TFX nor this
  project: we default to `DOCKER` with our component image, and stage the project's wheel
  (`--extra_package`) when we know where it is (inside the image: `code_root/dist/`).
  An `EXTERNAL` worker pool (or `PROCESS`) must have the project installed itself: Beam's
  Python worker pool does not install staged packages.
- Dataflow (runner v2): `--sdk_container_image` is the workers' container: our image.

TFX's dependency-flag trap (DESIGN.md §3): without one of `--extra_package`,
`--setup_file`, `--requirements_file`, `--sdk_container_image` a Beam component builds a
~40 MB tfx sdist per execution (left in /tmp) to stage for workers. Our workers always have
TFX (venv or image), so every family gets a dependency flag: the staged wheel where there is
one, else `--sdk_container_image=<image>`, which the DirectRunner and portable runners ignore.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

DIRECT, PORTABLE, DATAFLOW = "direct", "portable", "dataflow"
_DIRECT_RUNNERS = {"directrunner", "direct", "switchingdirectrunner", "bundlebaseddirectrunner"}
_PORTABLE_RUNNERS = {
    "portablerunner",
    "flinkrunner",
    "sparkrunner",
    "prismrunner",
    "portable",
    "flink",
    "spark",
    "prism",
}
_DATAFLOW_RUNNERS = {"dataflowrunner", "dataflow"}
PORTABLE_JOB_TIMEOUT_SECONDS = 86_400
# What TFX's dependency_utils checks (as option names) before building its sdist.
_DEPENDENCY_FLAGS = (
    "--extra_package",
    "--extra_packages",
    "--setup_file",
    "--requirements_file",
    "--sdk_container_image",
    "--worker_harness_container_image",
)


class BeamArgsError(ValueError):
    """Beam args that cannot work (an unknown runner, a flag the family ignores)."""


def flag_value(args: Sequence[str], name: str) -> Optional[str]:
    """The last value of `--name=value` or `--name value` in `args`; None when absent."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(args):
            value = args[i + 1]
    return value


def has_flag(args: Sequence[str], *names: str) -> bool:
    return any(arg.split("=", 1)[0] in names for arg in args)


def runner_family(args: Sequence[str]) -> str:
    runner = (flag_value(args, "runner") or "DirectRunner").rsplit(".", 1)[-1].lower()
    if runner in _DIRECT_RUNNERS:
        return DIRECT
    if runner in _PORTABLE_RUNNERS:
        return PORTABLE
    if runner in _DATAFLOW_RUNNERS:
        return DATAFLOW
    raise BeamArgsError(
        f"--runner={flag_value(args, 'runner')}: not a runner t2i knows "
        "(DirectRunner, PortableRunner, FlinkRunner, SparkRunner, DataflowRunner)"
    )


def wheel_name(version: str) -> str:
    """The project's wheel file name (setuptools' normalisation of `t2i-searcher`)."""
    return f"t2i_searcher-{version}-py3-none-any.whl"


def build(user_args: Sequence[str], *, image: str, wheel: Optional[str] = None) -> list[str]:
    """`user_args` completed for their runner family (module docstring). `image`: the
    component image (workers' container for Dataflow and, by default, portable runners);
    `wheel`: the project's wheel, staged for portable runners' workers when given."""
    args = list(user_args)
    family = runner_family(args)
    if family == PORTABLE:
        if has_flag(args, "--sdk_container_image") and not has_flag(args, "--environment_type"):
            raise BeamArgsError(
                "--sdk_container_image does not choose the workers' container on "
                "a portable runner: pass --environment_type=DOCKER "
                "--environment_config=<image> (or EXTERNAL/PROCESS)"
            )
        if not has_flag(args, "--environment_type"):
            args += ["--environment_type=DOCKER", f"--environment_config={image}"]
        if wheel and not has_flag(args, "--extra_package", "--extra_packages"):
            args.append(f"--extra_package={wheel}")
        if not has_flag(args, "--job_server_timeout", "--job-server-timeout"):
            # Beam 2.59 also puts this deadline (default 60 s) on the job's state and message
            # streams: wait_until_finish fails with DEADLINE_EXCEEDED once a job runs longer.
            # The price: an unreachable job endpoint is only reported after this long too.
            args.append(f"--job_server_timeout={PORTABLE_JOB_TIMEOUT_SECONDS}")
    if not has_flag(args, *_DEPENDENCY_FLAGS):
        args.append(f"--sdk_container_image={image}")
    return args


def image_wheel(code_root: str, version: str) -> str:
    """Where docker/Dockerfile keeps the project's wheel inside the image."""
    return os.path.join(code_root, "dist", wheel_name(version)).replace(os.sep, "/")
