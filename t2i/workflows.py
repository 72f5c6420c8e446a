"""What `t2i run` and `t2i demo` do, as functions the tests call."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import IO

from t2i.configs import Config
from t2i.paths import Paths

DEMO_QUERIES = (
    "a small red circle on a beige background",
    "two blue squares",
    "a yellow star left of a green triangle",
)


@dataclass
class RunOutcome:
    run_id: str
    succeeded: bool
    log_path: str
    report_path: str
    pushed: tuple | None  # (version, directory)
    error: str = ""
    failed_component: str = ""
    executions: list = field(default_factory=list)  # mlmd.NodeExecution, read once


def run(config: Config, out: IO[str] = sys.stdout, pipeline_kind: str = "full") -> RunOutcome:
    """Builds the DAG, runs it locally, prints the summary and writes the HTML report."""
    started = time.perf_counter()
    _say(out, f"t2i: building the {pipeline_kind} pipeline (importing TFX first) ...")
    from t2i import dags, local_runner, report, summary

    factory = dags.create_pipeline if pipeline_kind == "full" else dags.create_rebuild_pipeline
    tfx_pipeline = factory(config)
    paths = Paths.from_config(config)
    run_id = local_runner.new_run_id(paths.root)
    _say(out, f"t2i: run {run_id}; full logs in {paths.run_log(run_id)}")
    # The process's own stdout is redirected to the log during the run; any other stream
    # (a test's, say) can take the progress lines directly.
    terminal = None if out is sys.stdout else out
    result = local_runner.run_pipeline(tfx_pipeline, paths.root, config.to_json(), run_id=run_id,
                                       terminal=terminal)

    executions = result.executions
    report_path = report.write_report(paths.root, run_id, executions) if executions else ""
    pushed = summary.pushed_version(executions)
    outcome = RunOutcome(run_id, result.succeeded, result.log_path, report_path, pushed,
                         result.error, result.failed_component, executions)
    _print_summary(out, outcome, executions, paths, time.perf_counter() - started)
    return outcome


def _print_summary(out: IO[str], outcome: RunOutcome, executions, paths, seconds: float) -> None:
    from t2i import summary

    _say(out, "")
    if not outcome.succeeded:
        _say(out, f"FAILED in {outcome.failed_component or 'the pipeline'}:")
        for line in outcome.error.splitlines():
            _say(out, f"  {line}")
        _say(out, f"  full log: {outcome.log_path}")
        _say(out, "  fix the cause and run the same command again: finished steps come from the cache.")
    else:
        _say(out, f"run {outcome.run_id} finished in {seconds:.0f} s")
    if executions:
        _say(out, "artifacts:")
        for line in summary.format_artifacts(executions):
            _say(out, line)
    if outcome.pushed:
        version, directory = outcome.pushed
        _say(out, f"pushed searcher version {version}: {directory}")
    elif outcome.succeeded:
        _say(out, "nothing new was pushed (unchanged inputs are cached, or the model/searcher was not blessed)")
    if outcome.report_path:
        _say(out, f"report: {outcome.report_path}")
    if outcome.succeeded:
        _say(out, "next: t2i search \"a red circle\" --show results.png | t2i runs | t2i lineage latest")


def demo(config: Config, num_images: int = 2000, out: IO[str] = sys.stdout) -> int:
    """Sample data (if absent) -> full pipeline -> three example queries + a contact sheet."""
    from t2i import sample_data

    started = time.perf_counter()
    data_dir = os.path.abspath(config.data.data_dir)
    if not os.path.isdir(data_dir):
        summary = sample_data.generate(data_dir, num_images=num_images)
        _say(out, f"t2i demo: generated {summary['images']} sample images in {data_dir} ({summary['seconds']} s)")
    else:
        _say(out, f"t2i demo: using the sample collection in {data_dir}")
    trainer = config.trainer
    _say(out, f"t2i demo: towers: image {trainer.image_tower}, text {trainer.text_tower} "
              "(trainer.image_tower / trainer.text_tower)")
    outcome = run(config, out)
    if not outcome.succeeded:
        return 1
    paths = Paths.from_config(config)
    sheet = os.path.join(paths.root, "demo_results.png")
    for index, query in enumerate(DEMO_QUERIES):
        args = ["search", query, "-k", "5", "--searcher", os.path.join(paths.serving_dir, "latest"),
                "--images", data_dir]
        if index == 0:
            args += ["--show", sheet]
        _say(out, f"\n$ t2i search \"{query}\" -k 5")
        out.write(_t2i(args))
        out.flush()
    _say(out, f"\ncontact sheet of the first query: {sheet}")
    _say(out, f"t2i demo finished in {time.perf_counter() - started:.0f} s")
    return 0


def _t2i(args: list[str]) -> str:
    """Runs a t2i command in its own (TF-free) process, the way a user would."""
    result = subprocess.run([sys.executable, "-m", "t2i.cli", *args],
                            capture_output=True, text=True, timeout=300)
    return result.stdout + (result.stderr if result.returncode else "")


def _say(out: IO[str], line: str) -> None:
    out.write(line + "\n")
    out.flush()
