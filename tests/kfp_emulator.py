"""Runs a compiled KFP pipeline spec (TFX KubeflowV2DagRunner, pipeline spec 2.1) without a
cluster: a TEST STAND-IN for Kubeflow Pipelines' driver and launcher, which cannot run here
(no Kubernetes, no Docker engine).

What it does as KFP would:
- walks `root.dag.tasks` in dependency order (`dependentTasks` and artifact producers),
  starting each task as soon as its upstream tasks are done, several at once;
- for each container task, builds the ExecutorInput a KFP v2 launcher builds (input
  artifacts with name, type, uri and metadata as the producer's executor output left them;
  parameter values from the task's constants; one output artifact per output definition,
  its URI `<pipeline root>/<run id>/<task>/<output key>`; `outputFile` in the task's own
  directory) and runs the executor's container command and args exactly as the spec has
  them, `{{$}}` replaced by that ExecutorInput JSON: `python -m tfx.orchestration.kubeflow.
  v2.container.kubeflow_v2_run_executor --executor_class_path ... --json_serialized_
  invocation_args <executor input> ... <beam args>`;
- runs a `lifecycle.preCacheCheck` command (TFX's ExampleGen driver, which resolves spans)
  first with the same ExecutorInput, as Vertex does; the executor then reads what it wrote;
- reads the executor's `executor_output.json` back for the output artifacts' metadata;
- evaluates `triggerPolicy.condition` (the compiled Cond) on the input artifacts' metadata
  and skips the task, and every task depending on it, when false.

The task process is what the component image would be: `python` from the project's venv
(TFX, TensorFlow, Beam as the image's base has them) with the project importable ONLY from
a wheel built from the repository and installed with `--no-deps` into `image_dir` (the
image's `kubeflow.code_root`). The current directory is the task's own directory, not a
checkout; a `sitecustomize` from this harness (on PYTHONPATH after the image dir, never in
it) removes the shared venv's editable-install finder and records, at exit, the file of
every project module the task imported, so the test can prove none came from a checkout.

What it does not do faithfully:
- `resolver` executors (TFX's Resolver nodes, e.g. LatestBlessedModel) run on Vertex AI
  against Vertex ML Metadata; KFP's open-source backend does not run them at all. Here
  they are answered from this harness's own record of the artifacts earlier tasks and runs
  produced (`artifacts.json` in the pipeline root), by the query's `schema_title`, `state`,
  `name` and `metadata.<key>.number_value` clauses, newest first: a model of Vertex's
  behaviour, not Vertex's code.
- No caching (KFP's cache server), no retries, no pods, no per-task images: tasks run as
  processes on this machine, at most `parallelism` at once (KFP starts every ready task).
- Conditions are evaluated with a small translator of the CEL that TFX emits
  (`inputs.artifacts['k'].artifacts[0].metadata['m']`, comparisons, &&, ||, !), not a CEL
  engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from concurrent import futures
from typing import Any, Optional

import yaml

_IMPORTS_ENV = "T2I_EMULATOR_IMPORTS"
_PROJECT_PACKAGES = ("components", "t2i")
_SITECUSTOMIZE = f'''"""kfp_emulator's task-process hook (test harness only, never in the image)."""
import atexit, json, os, sys

# The shared venv has an editable install of a checkout behind a meta-path finder: a task
# must not see it (the image has no checkout).
sys.meta_path[:] = [f for f in sys.meta_path
                    if "editable" not in (getattr(f, "__name__", "") + type(f).__name__).lower()]


def _record():
    path = os.environ.get("{_IMPORTS_ENV}")
    if path:
        files = {{name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
                 if name.split(".")[0] in {_PROJECT_PACKAGES!r}}}
        with open(path, "w") as f:
            json.dump(files, f, indent=1, sort_keys=True)


atexit.register(_record)
'''


class EmulatorError(RuntimeError):
    pass


@dataclasses.dataclass
class TaskResult:
    name: str
    state: str  # SUCCEEDED | SKIPPED | FAILED
    seconds: float = 0.0
    reason: str = ""
    outputs: dict = dataclasses.field(default_factory=dict)  # key -> [RuntimeArtifact dict]
    imports: dict = dataclasses.field(default_factory=dict)  # module -> file


@dataclasses.dataclass
class RunResult:
    run_id: str
    run_root: str
    tasks: dict  # name -> TaskResult, in execution order

    @property
    def succeeded(self) -> bool:
        return all(t.state != "FAILED" for t in self.tasks.values())


# --- the image: the project's wheel in a target dir --------------------------------------


def build_wheel(repo_root: str, out_dir: str) -> str:
    """Builds the project's wheel with its PEP 517 backend (setuptools, from this venv:
    no network, no build isolation)."""
    os.makedirs(out_dir, exist_ok=True)
    build_dir = os.path.join(out_dir, "build-tree")
    shutil.copytree(
        repo_root,
        build_dir,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "__pycache__", "*.egg-info", "build", "dist", ".bootstrap"
        ),
    )
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, os.path.abspath(out_dir)],
        cwd=build_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise EmulatorError(f"wheel build failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(build_dir)
    return os.path.join(out_dir, done.stdout.strip().splitlines()[-1])


def install_wheel(wheel: str, target: str) -> None:
    """`uv pip install --no-deps --target` when uv is at hand (what the image's pip does);
    else the wheel's files unpacked into `target`, which is what that amounts to for a
    pure-Python wheel without scripts."""
    uv = shutil.which("uv") or os.path.join(
        os.path.dirname(sys.prefix), ".bootstrap", "uv", "bin", "uv"
    )
    if os.path.exists(uv):
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--python",
                sys.executable,
                "--target",
                target,
                wheel,
            ],
            check=True,
        )
    else:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)


def harness_site_dir(root: str) -> str:
    path = os.path.join(root, "harness-site")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "sitecustomize.py"), "w") as f:
        f.write(_SITECUSTOMIZE)
    return path


# --- the run -----------------------------------------------------------------------------


class Emulator:
    """One pipeline root: runs compiled specs against it, keeping the artifacts record that
    stands in for (Vertex) ML Metadata across runs."""

    def __init__(
        self,
        pipeline_root: str,
        image_dir: str,
        work_dir: str,
        extra_env: Optional[dict] = None,
        parallelism: int = 2,
    ):
        self.pipeline_root = pipeline_root
        self.parallelism = parallelism
        self._registry_lock = threading.Lock()
        self.image_dir = image_dir
        self.site_dir = harness_site_dir(work_dir)
        self.extra_env = extra_env or {}
        self.registry_path = os.path.join(pipeline_root, "artifacts.json")
        os.makedirs(pipeline_root, exist_ok=True)

    # artifacts record (stand-in for the metadata store the resolver queries)
    def _registry(self) -> list:
        if not os.path.exists(self.registry_path):
            return []
        with open(self.registry_path) as f:
            return json.load(f)

    def _register(self, artifacts: list) -> None:
        with self._registry_lock:
            registry = self._registry() + artifacts
            with open(self.registry_path, "w") as f:
                json.dump(registry, f, indent=1)

    def run(self, spec_path: str, run_id: str, only: Optional[set] = None) -> RunResult:
        """Runs the spec's tasks in DAG order; `only`: just these tasks (every task they
        depend on must be among them), for tests that cannot afford the whole DAG."""
        with open(spec_path) as f:
            spec = yaml.safe_load(f)
        tasks = spec["root"]["dag"]["tasks"]
        if only is not None:
            missing = {u for name in only for u in _upstream(tasks[name])} - set(only)
            if missing:
                raise EmulatorError(f"tasks {sorted(only)} depend on {sorted(missing)}")
            tasks = {name: task for name, task in tasks.items() if name in only}
        run_root = os.path.join(self.pipeline_root, run_id)
        result = RunResult(run_id, run_root, {})
        order = _topological_order(tasks)  # also refuses cycles and missing producers
        # As KFP does, every task whose upstream tasks are done starts at once (up to
        # `parallelism`); after a failure nothing new starts, as with KFP's default
        # fail-fast strategy, and the running tasks finish.
        with futures.ThreadPoolExecutor(self.parallelism) as pool:
            running: dict = {}
            while True:
                failed = any(t.state == "FAILED" for t in result.tasks.values())
                for name in [] if failed else order:
                    if (
                        name not in result.tasks
                        and name not in running.values()
                        and _upstream(tasks[name]) <= set(result.tasks)
                    ):
                        running[pool.submit(self._task, spec, tasks[name], name, result)] = name
                if not running:
                    break
                done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    result.tasks[running.pop(future)] = future.result()
        return result

    def _task(self, spec: dict, task: dict, name: str, run: RunResult) -> TaskResult:
        component = spec["components"][task["componentRef"]["name"]]
        executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
        return self._run_task(name, task, component, executor, run, run.run_root)

    def _run_task(self, name, task, component, executor, run, run_root) -> TaskResult:
        skipped = [u for u in sorted(_upstream(task)) if run.tasks[u].state != "SUCCEEDED"]
        if skipped:
            return TaskResult(name, "SKIPPED", reason=f"upstream {', '.join(skipped)} skipped")
        inputs = self._input_artifacts(task, component, run)
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not evaluate_condition(condition, inputs):
            return TaskResult(name, "SKIPPED", reason=f"condition false: {condition}")
        started = time.perf_counter()
        if "resolver" in executor:
            outputs = self._resolve(executor["resolver"], inputs, component)
            return TaskResult(name, "SUCCEEDED", time.perf_counter() - started, outputs=outputs)
        task_dir = os.path.join(run_root, name)
        os.makedirs(task_dir, exist_ok=True)
        executor_input = {
            "inputs": {
                "parameterValues": _parameter_values(task),
                "artifacts": {k: {"artifacts": v} for k, v in inputs.items()},
            },
            "outputs": {
                "artifacts": self._output_artifacts(component, run_root, name, run.run_id),
                "outputFile": os.path.join(task_dir, "executor_output.json"),
            },
        }
        container = executor["container"]
        invocation = json.dumps(executor_input)
        log_path = os.path.join(task_dir, "task.log")
        imports_path = os.path.join(task_dir, "imports.json")
        hooks = container.get("lifecycle", {}).get("preCacheCheck")
        commands = [hooks["command"] + _substitute(hooks["args"], invocation)] if hooks else []
        commands.append(container["command"] + _substitute(container["args"], invocation))
        with open(log_path, "wb") as log:
            for command in commands:
                done = subprocess.run(
                    _local_python(command),
                    cwd=task_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._task_env(imports_path),
                )
                if done.returncode:
                    return TaskResult(
                        name,
                        "FAILED",
                        time.perf_counter() - started,
                        reason=f"exit {done.returncode}; see {log_path}\n" + _tail(log_path),
                    )
        seconds = time.perf_counter() - started
        with open(executor_input["outputs"]["outputFile"]) as f:
            produced = json.load(f).get("artifacts", {})
        outputs = {}
        for key, spec_list in executor_input["outputs"]["artifacts"].items():
            declared = spec_list["artifacts"][0]
            written = (produced.get(key, {}).get("artifacts") or [{}])[0]
            outputs[key] = [dict(declared, metadata=written.get("metadata", {}))]
        self._register(
            [
                dict(a[0], task=name, run_id=run.run_id, state="LIVE", created=time.time())
                for a in outputs.values()
            ]
        )
        imports = {}
        if os.path.exists(imports_path):
            with open(imports_path) as f:
                imports = json.load(f)
        return TaskResult(name, "SUCCEEDED", seconds, outputs=outputs, imports=imports)

    def _task_env(self, imports_path: str) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(self.extra_env)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        # The image: the project only from the wheel's target dir.
        env["PYTHONPATH"] = os.pathsep.join([self.image_dir, self.site_dir])
        env[_IMPORTS_ENV] = imports_path
        # docker/Dockerfile sets these for every process of the image.
        env.update(TF_USE_LEGACY_KERAS="1", UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES="1")
        return env

    def _input_artifacts(self, task, component, run) -> dict:
        inputs = {}
        definitions = component.get("inputDefinitions", {}).get("artifacts", {})
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            ref = source["taskOutputArtifact"]
            produced = run.tasks[ref["producerTask"]].outputs.get(ref["outputArtifactKey"], [])
            artifact_type = definitions[key]["artifactType"]
            inputs[key] = [dict(a, type=artifact_type) for a in produced]
        return inputs

    def _output_artifacts(self, component, run_root, task_name, run_id) -> dict:
        outputs = {}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
            uri = os.path.join(run_root, task_name, key)
            outputs[key] = {
                "artifacts": [
                    {
                        "name": f"projects/emulated/locations/local/metadataStores/default/artifacts/"
                        f"{run_id}-{task_name}-{key}",
                        "type": definition["artifactType"],
                        "uri": uri,
                        "metadata": {},
                    }
                ]
            }
        return outputs

    def _resolve(self, resolver: dict, inputs: dict, component: dict) -> dict:
        outputs = {}
        definitions = component.get("outputDefinitions", {}).get("artifacts", {})
        for key, query in resolver["outputArtifactQueries"].items():
            clauses = _query_clauses(_fill_placeholders(query["filter"], inputs))
            matches = [a for a in self._registry() if all(c(a) for c in clauses)]
            matches.sort(key=lambda a: a["created"], reverse=True)
            artifact_type = definitions[key]["artifactType"]
            outputs[key] = [
                {
                    "name": a["name"],
                    "uri": a["uri"],
                    "metadata": a["metadata"],
                    "type": artifact_type,
                }
                for a in matches[:1]
            ]
        return outputs


# --- helpers -------------------------------------------------------------------------------


def _producers(task: dict) -> list:
    return [
        s["taskOutputArtifact"]["producerTask"]
        for s in task.get("inputs", {}).get("artifacts", {}).values()
    ]


def _upstream(task: dict) -> set:
    return set(task.get("dependentTasks", [])) | set(_producers(task))


def _topological_order(tasks: dict) -> list:
    order, done = [], set()
    pending = sorted(tasks)
    while pending:
        ready = [n for n in pending if _upstream(tasks[n]) <= done]
        if not ready:
            raise EmulatorError(f"cycle or missing producer among {pending}")
        for name in ready:
            order.append(name)
            done.add(name)
            pending.remove(name)
    return order


def _parameter_values(task: dict) -> dict:
    values = {}
    for key, source in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" not in source:
            raise EmulatorError(f"parameter {key}: only constants are emulated, got {source}")
        values[key] = source["runtimeValue"]["constant"]
    return values


def _substitute(args: list, invocation: str) -> list:
    return [invocation if arg == "{{$}}" else arg for arg in args]


def _local_python(command: list) -> list:
    """The image's `python` is this venv's interpreter (TFX, TF, Beam as in the image)."""
    return [sys.executable, *command[1:]] if command and command[0] == "python" else command


def _tail(path: str, lines: int = 30) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


_METADATA_REF = re.compile(r"inputs\.artifacts\['([^']+)'\]\.artifacts\[0\]\.metadata\['([^']+)'\]")


def evaluate_condition(condition: str, inputs: dict) -> bool:
    """The CEL TFX emits for a Cond, on the input artifacts' metadata."""
    values = {}

    def lookup(match: re.Match) -> str:
        artifacts = inputs.get(match.group(1)) or []
        if not artifacts:
            raise EmulatorError(f"condition {condition!r}: input {match.group(1)} has no artifact")
        name = f"_v{len(values)}"
        values[name] = artifacts[0].get("metadata", {}).get(match.group(2))
        return name

    expression = _METADATA_REF.sub(lookup, condition)
    expression = expression.replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    if re.search(r"[A-Za-z_][A-Za-z_0-9]*\s*\(", expression):
        raise EmulatorError(f"condition {condition!r}: functions are not emulated")
    return bool(eval(expression, {"__builtins__": {}}, values))  # noqa: S307 (own translation)


def _fill_placeholders(text: str, inputs: dict) -> str:
    def value(match: re.Match) -> str:
        artifacts = inputs.get(match.group(1)) or []
        return str(artifacts[0]["metadata"].get(match.group(2), "")) if artifacts else ""

    return re.sub(
        r"\{\{\$\." + _METADATA_REF.pattern.replace(r"\.artifacts\[0\]", "") + r"\}\}", value, text
    )


def _query_clauses(query: str) -> list:
    clauses = []
    for clause in (c.strip() for c in query.split(" AND ")):
        key, _, raw = clause.partition("=")
        expected: Any = raw.strip('"')
        key = key.strip()
        if key == "schema_title":
            clauses.append(lambda a, e=expected: _title(a) == e)
        elif key == "state":
            clauses.append(lambda a, e=expected: a.get("state") == e)
        elif key == "name":
            clauses.append(lambda a, e=expected: a.get("name") == e)
        elif key.startswith("metadata.") and key.endswith(".number_value"):
            field = key[len("metadata.") : -len(".number_value")]
            clauses.append(
                lambda a, f=field, e=float(expected): (
                    a["metadata"].get(f) is not None and float(a["metadata"][f]) == e
                )
            )
        else:
            raise EmulatorError(f"resolver query clause {clause!r} is not emulated")
    return clauses


def _title(artifact: dict) -> str:
    artifact_type = artifact.get("type", {})
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type.get("instanceSchema", "")).get("title", "")
