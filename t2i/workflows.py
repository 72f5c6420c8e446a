"""What `t2i run` and `t2i demo` do, as functions the tests call."""

from __future__ import annotations

import os
import shlex
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
    seconds: float = 0.0  # the run's one duration (summary.run_seconds), as `t2i runs` shows it
    executions: list = field(default_factory=list)  # mlmd.NodeExecution, read once
    serving_notes: list = field(default_factory=list)  # what the serving check found and fixed


def run(
    config: Config,
    out: IO[str] = sys.stdout,
    pipeline_kind: str = "full",
    wait: bool = False,
    scheduled_tick: bool = False,
) -> RunOutcome:
    """Builds the DAG, runs it locally, prints the summary and writes the HTML report.
    A `scheduled_tick` that pushes no new version writes no report and is flagged, so that
    `t2i runs` shows a streak of such ticks as one row.

    Before importing TFX: checks the config, --root and --data (t2i/preflight.py raises
    ConfigError, RootError, DataDirError) and takes the pipeline root's lock (RootBusyError
    naming the holder, or with `wait` waits for it). Ctrl-C or SIGTERM mark the run failed,
    say so and raise SystemExit(130 / 143).
    """
    from t2i import preflight, root_lock, run_control

    started = time.perf_counter()
    restore_sigterm = _handle_sigterm()
    try:
        preflight.check_run(config)
        with root_lock.hold(
            config.pipeline.root, wait=wait, on_wait=lambda line: _say(out, f"t2i: {line}")
        ) as lock:
            return _run_locked(config, out, pipeline_kind, lock, started, scheduled_tick)
    except KeyboardInterrupt as error:  # before a run started: nothing recorded to mark
        interrupted = run_control.as_interrupted(error)
        _say(out, f"\nt2i: interrupted by {interrupted.described} before the run started")
        raise SystemExit(interrupted.exit_code) from None
    finally:
        restore_sigterm()


def _handle_sigterm():
    from t2i import run_control

    try:
        return run_control.handle_sigterm_like_ctrl_c()
    except ValueError:  # not the main thread: signals stay the caller's business
        return lambda: None


def _run_locked(
    config: Config,
    out: IO[str],
    pipeline_kind: str,
    lock,
    started: float,
    scheduled_tick: bool = False,
) -> RunOutcome:
    _say(out, f"t2i: building the {pipeline_kind} pipeline (importing TFX first) ...")
    from t2i import dags, local_runner, report, run_control, run_environment, summary

    factory = dags.create_pipeline if pipeline_kind == "full" else dags.create_rebuild_pipeline
    tfx_pipeline = factory(config, run_environment.local(config))
    paths = Paths.from_config(config)
    run_id = local_runner.new_run_id(paths.root)
    lock.set_run_id(run_id)
    _say(out, f"t2i: run {run_id}; full logs in {paths.run_log(run_id)}")
    # The process's own stdout is redirected to the log during the run; any other stream
    # (a test's, say) can take the progress lines directly.
    terminal = None if out is sys.stdout else out
    try:
        result = local_runner.run_pipeline(
            tfx_pipeline, paths.root, config.to_json(), run_id=run_id, terminal=terminal
        )
    except KeyboardInterrupt as error:
        interrupted = run_control.as_interrupted(error)
        marked = run_control.mark_unfinished_failed(
            paths.root, run_id, f"interrupted by {interrupted.described}"
        )
        _say(
            out,
            f"\nt2i: interrupted by {interrupted.described}: run {run_id} marked failed "
            f"({marked} unfinished step(s)); finished steps are cached, so the same "
            "command resumes where it stopped",
        )
        raise SystemExit(interrupted.exit_code) from None

    executions = result.executions
    idle_tick = (
        scheduled_tick
        and result.succeeded
        and executions
        and not summary.pushed_new_version(executions)
    )
    if idle_tick:
        local_runner.mark_nothing_pushed(paths.root, run_id)
    report_path = (
        report.write_report(paths.root, run_id, executions) if executions and not idle_tick else ""
    )
    pushed = summary.pushed_version(executions)
    seconds = round(result.seconds, 1)  # what the runner recorded: summary.run_seconds
    outcome = RunOutcome(
        run_id,
        result.succeeded,
        result.log_path,
        report_path,
        pushed,
        result.error,
        result.failed_component,
        seconds,
        executions,
    )
    if outcome.succeeded:
        _check_serving_copy(outcome, paths.serving_dir)
    _print_summary(out, outcome, executions, paths, time.perf_counter() - started)
    return outcome


def _check_serving_copy(outcome: RunOutcome, serving_dir: str) -> None:
    """A cached Pusher never looks at what it pushed: check (and repair) it every run."""
    from components.common import serving

    try:
        outcome.serving_notes = serving.check_and_repair(serving_dir)
    except (serving.ServingError, OSError) as e:
        outcome.succeeded, outcome.failed_component, outcome.error = False, "serving check", str(e)


def _print_summary(out: IO[str], outcome: RunOutcome, executions, paths, seconds: float) -> None:
    from t2i import summary

    _say(out, "")
    if not outcome.succeeded:
        _say(out, f"FAILED in {outcome.failed_component or 'the pipeline'}:")
        for line in outcome.error.splitlines():
            _say(out, f"  {line}")
        _say(out, f"  full log: {outcome.log_path}")
        _say(
            out,
            "  fix the cause and run the same command again: finished steps come from the cache.",
        )
    else:
        _say(
            out,
            f"run {outcome.run_id} finished in {outcome.seconds:.1f} s "
            f"(the command took {seconds:.0f} s, TFX import included)",
        )
    if executions:
        _say(out, "artifacts:")
        for line in summary.format_artifacts(executions):
            _say(out, line)
    for line in summary.index_growth(executions):
        _say(out, line)
    for note in outcome.serving_notes:
        _say(out, note)
    if outcome.pushed:
        version, directory = outcome.pushed
        _say(out, f"pushed searcher version {version}: {directory}")
    elif outcome.succeeded:
        _say(
            out,
            "nothing new was pushed (unchanged inputs are cached, or the model/searcher was not blessed)",
        )
    if outcome.report_path:
        _say(out, f"report: {outcome.report_path}")
    if outcome.succeeded:
        _say(out, "next:")
        for command in next_commands(paths.root):
            _say(out, f"  {command}")


def t2i_command() -> str:
    """How to type `t2i` here: plain `t2i` when that is on PATH and is ours, else the
    script's path (relative when under the current directory: `make demo` puts it in
    .venv/bin, which is not on PATH)."""
    import shutil

    script = os.path.join(os.path.dirname(sys.executable), "t2i")
    on_path = shutil.which("t2i")
    if on_path and os.path.realpath(on_path) == os.path.realpath(script):
        return "t2i"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else script


def next_commands(root: str) -> list[str]:
    """Commands to try after a run, each working as typed from the current directory."""
    t2i = t2i_command()
    where = (
        "" if os.path.abspath(root) == os.path.abspath("runs") else f" --root {shlex.quote(root)}"
    )
    return [
        f"{t2i} search a red circle --show results.png{where}",
        f"{t2i} runs{where}",
        f"{t2i} lineage latest{where}",
        f"{t2i} serve{where}   # then open http://127.0.0.1:8080/",
    ]


def demo(
    config: Config, num_images: int = 2000, out: IO[str] = sys.stdout, wait: bool = False
) -> int:
    """Sample data (if absent) -> full pipeline -> three example queries + a contact sheet."""
    from t2i import sample_data

    started = time.perf_counter()
    data_dir = os.path.abspath(config.data.data_dir)
    if not os.path.isdir(data_dir):
        summary = sample_data.generate(data_dir, num_images=num_images)
        _say(
            out,
            f"t2i demo: generated {summary['images']} sample images in {data_dir} ({summary['seconds']} s)",
        )
    else:
        _say(out, f"t2i demo: using the sample collection in {data_dir}")
    trainer = config.trainer
    _say(
        out,
        f"t2i demo: towers: image {trainer.image_tower}, text {trainer.text_tower} "
        "(trainer.image_tower / trainer.text_tower)",
    )
    outcome = run(config, out, wait=wait)
    if not outcome.succeeded:
        return 1
    paths = Paths.from_config(config)
    sheet = os.path.join(paths.root, "demo_results.png")
    for index, query in enumerate(DEMO_QUERIES):
        args = [
            "search",
            query,
            "-k",
            "5",
            "--searcher",
            os.path.join(paths.serving_dir, "latest"),
            "--images",
            data_dir,
        ]
        if index == 0:
            args += ["--show", sheet]
        _say(out, f'\n$ t2i search "{query}" -k 5')
        out.write(_t2i(args))
        out.flush()
    _say(out, f"\ncontact sheet of the first query: {sheet}")
    _say(out, f"t2i demo finished in {time.perf_counter() - started:.0f} s")
    return 0


def _t2i(args: list[str]) -> str:
    """Runs a t2i command in its own (TF-free) process, the way a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "t2i.cli", *args], capture_output=True, text=True, timeout=300
    )
    return result.stdout + (result.stderr if result.returncode else "")


def _say(out: IO[str], line: str) -> None:
    out.write(line + "\n")
    out.flush()
