"""One terminal line per pipeline component; everything else goes to the run's log file.

TensorFlow's C++ logs and Beam workers write straight to file descriptors 1 and 2, so the
capture redirects the descriptors themselves, and the progress lines go to a duplicate of
the original stdout. Component boundaries come from the log records TFX's LocalDagRunner
and launcher emit (TFX 1.16 pinned). Components report sub-steps (epochs, say) on the
`t2i.progress` logger; those lines are shown indented under their component.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Iterator

from components.common import runtime_env

PROGRESS_LOGGER = "t2i.progress"

# The TFX log records the printer follows, by their format strings (the record's `msg`,
# before its arguments are put in) and the module that logs them. Matching the format
# string exactly, not the rendered text, means a reworded message in a TFX upgrade stops
# matching outright; tests/test_progress.py then fails, because it checks that each string
# still appears in its module's source (TFX 1.16 pinned).
TFX_RECORDS = {
    "running": ("tfx.orchestration.local.local_dag_runner", "Component %s is running."),
    "finished": ("tfx.orchestration.local.local_dag_runner", "Component %s is finished."),
    "cached": ("tfx.orchestration.portable.launcher", "A cached execution %d is used."),
    "skipped": ("tfx.orchestration.portable.launcher", "Skipping execution for %s"),
    "failed": ("tfx.orchestration.portable.launcher", "Execution %d failed."),
}
_EVENTS = {format_string: event for event, (_, format_string) in TFX_RECORDS.items()}


@dataclass
class ComponentProgress:
    node_id: str
    started: float
    status: str = "running"  # running | done | cached | skipped | failed
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # this process's peak while the component ran (Linux)
    details: list[str] = field(default_factory=list)


class ProgressPrinter(logging.Handler):
    """Follows TFX's launcher records and prints a line as each component ends."""

    def __init__(self, terminal: IO[str], total: int):
        super().__init__(level=logging.INFO)
        self.terminal = terminal
        self.total = total
        self.components: list[ComponentProgress] = []
        self._interactive = terminal.isatty()

    @property
    def current(self) -> ComponentProgress | None:
        if self.components and self.components[-1].status == "running":
            return self.components[-1]
        return None

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == PROGRESS_LOGGER:
            try:
                self._detail(record.getMessage())
            except Exception:  # a malformed record must never break the run
                pass
            return
        event = _EVENTS.get(record.msg) if isinstance(record.msg, str) else None
        args = record.args if isinstance(record.args, tuple) else ()
        if event == "running" and args:
            reset_peak_rss()
            component = ComponentProgress(str(args[0]), time.perf_counter())
            self.components.append(component)
            if self._interactive:
                self._write(f"{self._prefix(component)} running ...", end="")
        elif event in ("cached", "skipped", "failed") and self.current:
            self.current.status = event
        elif event == "finished" and self.components:
            self._finish(self.components[-1])

    def fail_current(self, error: BaseException) -> None:
        component = self.current or (self.components[-1] if self.components else None)
        if component is None:
            return
        component.status = "failed"
        self._finish(component, force=True)

    def _finish(self, component: ComponentProgress, force: bool = False) -> None:
        if component.status == "running":
            component.status = "done"
        elif component.seconds and not force:
            return
        component.seconds = time.perf_counter() - component.started
        component.peak_rss_mb = peak_rss_mb()
        self._write(
            f"{self._prefix(component)} {component.status:<8}{component.seconds:7.1f} s",
            replace=self._interactive,
        )

    def _detail(self, message: str) -> None:
        component = self.current
        if component is not None:
            component.details.append(message)
        self._write(f"      {message}", replace=self._interactive and component is not None)
        if self._interactive and component is not None:
            self._write(f"{self._prefix(component)} running ...", end="")

    def _prefix(self, component: ComponentProgress) -> str:
        index = self.components.index(component) + 1
        return f"[{index:>2}/{self.total}] {component.node_id:<24}"

    def _write(self, text: str, end: str = "\n", replace: bool = False) -> None:
        if replace:
            text = "\r\033[K" + text
        self.terminal.write(text + end)
        self.terminal.flush()


def reset_peak_rss() -> None:
    """Restarts the kernel's high-water mark (VmHWM) so each component gets its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def captured_output(log_path: str, terminal: IO[str] | None = None) -> Iterator[IO[str]]:
    """Sends stdout/stderr (descriptors included) and Python logging to `log_path`; yields
    `terminal`, or a stream to the real terminal. With --verbose, nothing is redirected."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    root = logging.getLogger()
    with open(log_path, "a", buffering=1) as log_file:
        file_handler = logging.StreamHandler(log_file)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(file_handler)
        previous_level = root.level
        root.setLevel(logging.INFO)
        _set_absl_verbosity_info()
        if runtime_env.is_verbose():
            try:
                yield terminal or sys.stdout
            finally:
                root.removeHandler(file_handler)
                root.setLevel(previous_level)
                _restore_absl_verbosity()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        saved_out, saved_err = os.dup(1), os.dup(2)
        real_terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield terminal or real_terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            real_terminal.close()
            root.removeHandler(file_handler)
            root.setLevel(previous_level)
            _restore_absl_verbosity()


def _restore_absl_verbosity() -> None:
    from absl import logging as absl_logging

    if not runtime_env.is_verbose():
        absl_logging.set_verbosity(absl_logging.WARNING)
        logging.getLogger("absl").setLevel(logging.WARNING)


def _set_absl_verbosity_info() -> None:
    # TFX logs component boundaries at INFO through absl; absl's logger defaults to WARNING.
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    logging.getLogger("absl").setLevel(logging.INFO)
