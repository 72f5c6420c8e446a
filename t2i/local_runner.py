"""Runs a TFX pipeline with LocalDagRunner and an SQLite ML Metadata store.

Thin on purpose: compile, give the run a known id (so its log and report are named up
front), run under captured output with one progress line per component, then read what
happened back from ML Metadata. The effective config is recorded on the run's context.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import IO

from t2i import mlmd
from t2i.paths import Paths
from t2i.progress import ProgressPrinter, captured_output
from t2i.summary import NOTHING_PUSHED_PROPERTY, RUN_SECONDS_PROPERTY

# Where TFX keeps an execution's result (code, message) in ML Metadata.
EXECUTION_RESULT_PROPERTY = "__execution_result__"
CONFIG_PROPERTY = "t2i_config"


@dataclass
class RunResult:
    run_id: str
    log_path: str
    succeeded: bool
    error: str = ""
    failed_component: str = ""
    components: list = field(default_factory=list)  # ComponentProgress, in run order
    seconds: float = 0.0  # the pipeline's wall time (summary.run_seconds reads it back)
    # The run's executions as ML Metadata recorded them, read once after the run (empty
    # when the run failed before TFX registered it): the summary, the report and the
    # scheduler use these rather than reading the store again.
    executions: list[mlmd.NodeExecution] = field(default_factory=list)


def new_run_id(root: str) -> str:
    """A readable, unique id: the start time, with a suffix when a run under `root`
    already started in the same second (a fully cached run takes about one)."""
    base = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while os.path.exists(Paths.of(root).run_log(run_id)):
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def run_pipeline(
    tfx_pipeline,
    root: str,
    config_json: str,
    run_id: str | None = None,
    terminal: IO[str] | None = None,
) -> RunResult:
    """Runs `tfx_pipeline` (whose metadata config points under `root`); never raises for a
    component failure: the result says which component failed and why. Progress lines go
    to `terminal` (default: the real stdout, whatever the capture does to descriptors)."""
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    run_id = run_id or new_run_id(root)
    log_path = Paths.of(root).run_log(run_id)
    result = RunResult(run_id=run_id, log_path=log_path, succeeded=False)
    ir = compiler.Compiler().compile(tfx_pipeline)
    # LocalDagRunner would substitute now().isoformat(); substituting first makes the id
    # ours, so the log file, report and summary can be named before the run starts.
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    with captured_output(log_path, terminal) as terminal:
        printer = ProgressPrinter(terminal, total=len(ir.nodes))
        root_logger = logging.getLogger()
        root_logger.addHandler(printer)
        started = time.perf_counter()
        try:
            LocalDagRunner().run_with_ir(ir)
            result.succeeded = True
        except Exception as error:  # report the failing component, keep the traceback in the log
            printer.fail_current(error)
            traceback.print_exc()
            result.error = _last_lines(error)
            result.failed_component = printer.components[-1].node_id if printer.components else ""
        finally:
            root_logger.removeHandler(printer)
            result.seconds = time.perf_counter() - started
        result.components = printer.components
    result.executions = _read_executions(root, run_id)
    if result.succeeded:
        _check_recorded_failures(result)
    _record_run(root, run_id, config_json, result.seconds)
    _write_timings(root, result)
    return result


def _write_timings(root: str, result: RunResult) -> None:
    """Per-component status, wall time and peak memory, for benchmarks and reports."""
    rows = [
        {
            "component": c.node_id,
            "status": c.status,
            "seconds": round(c.seconds, 2),
            "peak_rss_mb": round(c.peak_rss_mb, 1),
        }
        for c in result.components
    ]
    with open(timings_path(root, result.run_id), "w") as f:
        json.dump(
            {"run_id": result.run_id, "succeeded": result.succeeded, "components": rows},
            f,
            indent=2,
        )


def timings_path(root: str, run_id: str) -> str:
    return Paths.of(root).run_log(run_id, ".timings.json")


def _read_executions(root: str, run_id: str) -> list[mlmd.NodeExecution]:
    try:
        return mlmd.run_executions(mlmd.connect(root), run_id)
    except mlmd.StoreError:  # no store yet, or the run failed before TFX registered it
        return []


def _check_recorded_failures(result: RunResult) -> None:
    """LocalDagRunner returns normally when a node fails before its executor starts (its
    inputs could not be resolved, say) and only records the execution as FAILED: the
    run is only a success if ML Metadata agrees."""
    for node in result.executions:
        if node.state == "FAILED":
            raw = node.execution.custom_properties.get(EXECUTION_RESULT_PROPERTY)
            message = json.loads(raw.string_value).get("resultMessage", "") if raw else ""
            result.succeeded = False
            result.failed_component = node.node_id
            result.error = message or f"{node.node_id} failed; see the log"
            return


def _last_lines(error: BaseException, count: int = 6) -> str:
    lines = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
    return "\n".join(lines[-count:])


def _record_run(root: str, run_id: str, config_json: str, seconds: float) -> None:
    """Stores the effective config and the run's wall time on its MLMD context (the config
    also next to its log)."""
    with open(Paths.of(root).run_log(run_id, ".config.json"), "w") as f:
        f.write(config_json)
    from ml_metadata import metadata_store

    store = metadata_store.MetadataStore(mlmd.sqlite_connection_config(root))
    context = store.get_context_by_type_and_name(mlmd.RUN_CONTEXT, run_id)
    if context is None:  # the run failed before TFX registered it
        return
    context.custom_properties[CONFIG_PROPERTY].string_value = config_json
    context.custom_properties[RUN_SECONDS_PROPERTY].double_value = round(seconds, 1)
    store.put_contexts([context])


def mark_nothing_pushed(root: str, run_id: str) -> None:
    """Flags a scheduled tick that pushed no new version: `t2i runs` folds a streak of them
    into one row (summary.NOTHING_PUSHED_PROPERTY)."""
    from ml_metadata import metadata_store

    store = metadata_store.MetadataStore(mlmd.sqlite_connection_config(root))
    context = store.get_context_by_type_and_name(mlmd.RUN_CONTEXT, run_id)
    if context is not None:
        context.custom_properties[NOTHING_PUSHED_PROPERTY].int_value = 1
        store.put_contexts([context])


def recorded_config(store, run_id: str) -> dict:
    context = mlmd.run_context(store, run_id)
    raw = context.custom_properties.get(CONFIG_PROPERTY)
    return json.loads(raw.string_value) if raw is not None and raw.string_value else {}
