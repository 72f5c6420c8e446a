"""A local run interrupted from outside: SIGTERM is handled like Ctrl-C, the interrupted
run is marked failed in ML Metadata (it would say "running" forever otherwise), and runs
whose process is gone (kill -9, a power cut) show as abandoned in `t2i runs`.

What is finished stays finished: executions that completed are cached, so running the same
command again resumes where the interrupted run stopped.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXECUTION_RESULT_PROPERTY = "__execution_result__"  # where TFX keeps (code, message)
UNFINISHED = ("NEW", "RUNNING")
INTERRUPTED_PROPERTY = "t2i_interrupted"  # on the run's context: why it was stopped


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised in the main thread like KeyboardInterrupt is."""

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signal_name == "SIGTERM" else EXIT_INTERRUPTED

    @property
    def described(self) -> str:
        return "SIGTERM" if self.signal_name == "SIGTERM" else "Ctrl-C"


def handle_sigterm_like_ctrl_c() -> Callable[[], None]:
    """Installs the handler (main thread only); returns a function that restores the old one."""

    def on_sigterm(signum, frame):
        raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def as_interrupted(error: KeyboardInterrupt) -> Interrupted:
    return error if isinstance(error, Interrupted) else Interrupted("SIGINT")


def mark_unfinished_failed(root: str, run_id: str, reason: str) -> int:
    """Marks the run's NEW/RUNNING executions FAILED with `reason`, and the run itself as
    interrupted (it may have been stopped between two steps); returns how many."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from t2i import mlmd

    store = metadata_store.MetadataStore(mlmd.sqlite_connection_config(root))
    try:
        context = mlmd.run_context(store, run_id)
    except mlmd.StoreError:
        return 0  # interrupted before TFX registered the run: nothing recorded to mark
    context.custom_properties[INTERRUPTED_PROPERTY].string_value = reason
    store.put_contexts([context])
    unfinished = [
        e
        for e in store.get_executions_by_context(context.id)
        if mlmd.EXECUTION_STATES.get(e.last_known_state) in UNFINISHED
    ]
    for execution in unfinished:
        execution.last_known_state = metadata_store_pb2.Execution.FAILED
        execution.custom_properties[EXECUTION_RESULT_PROPERTY].string_value = json.dumps(
            {"code": 1, "resultMessage": reason}
        )
    if unfinished:
        store.put_executions(unfinished)
    return len(unfinished)


def shown_state(
    state: str, run_id: str, active_run_id: str | None, finished: bool, interrupted: bool
) -> str:
    """What `t2i runs` shows for a local run. `state` comes from its executions; `finished`:
    the runner recorded its end (local_runner records the config on the run's context when
    the run ends, failed or not); `interrupted`: Ctrl-C or SIGTERM stopped it;
    `active_run_id`: the run the root's lock holder runs (None when nobody holds it). A run
    that did not finish and is not the one running was abandoned (kill -9, a power cut),
    even if every step it recorded completed (killed between two steps)."""
    if interrupted or state == "failed":
        return "failed"
    if not finished or state == "running":
        return "running" if active_run_id == run_id else "abandoned"
    return state
