"""Where a t2i root's files go: one TF-free `Paths` for every command (local runs, the
report, the scheduler's lock and log, the inspection commands, the search default).

<root>/                          pipeline.root (default "runs")
  metadata.sqlite                the local ML Metadata store
  t2i.lock                       held by the command writing here (t2i/root_lock.py)
  pipelines/<pipeline name>/     the TFX pipeline root (artifacts)
  serving/                       pushed searchers (pusher.serving_dir overrides)
  logs/<run id>.log, .timings.json, .config.json, schedule.log
  reports/<run id>.html
"""

from __future__ import annotations

import dataclasses
import os

DEFAULT_ROOT = "runs"
# Where `t2i demo` and `t2i sample-data` put the generated collection by default.
SAMPLE_DATA_DIR = os.path.join(DEFAULT_ROOT, "sample-data")
METADATA_FILE = "metadata.sqlite"
LOG_DIR = "logs"
REPORT_DIR = "reports"
SERVING_DIR = "serving"
LOCK_FILE = "t2i.lock"


@dataclasses.dataclass(frozen=True)
class Paths:
    root: str
    pipeline_root: str
    serving_dir: str
    logs_dir: str
    reports_dir: str
    lock_file: str
    metadata_file: str

    @classmethod
    def of(
        cls, root: str = DEFAULT_ROOT, pipeline_name: str = "t2i-searcher", serving_dir: str = ""
    ) -> "Paths":
        """Absolute paths under `root` (URIs such as gs://... are kept as they are)."""
        root = absolute(root or DEFAULT_ROOT)
        pipeline_root = _join(root, "pipelines", pipeline_name)
        return cls(
            root=root,
            pipeline_root=pipeline_root,
            serving_dir=absolute(serving_dir or _join(root, SERVING_DIR)),
            logs_dir=_join(root, LOG_DIR),
            reports_dir=_join(root, REPORT_DIR),
            lock_file=_join(root, LOCK_FILE),
            metadata_file=_join(root, METADATA_FILE),
        )

    @classmethod
    def from_config(cls, config) -> "Paths":
        """From the app's Config: pipeline.root, pipeline.name and pusher.serving_dir."""
        return cls.of(config.pipeline.root, config.pipeline.name, config.pusher.serving_dir)

    def run_log(self, run_id: str, suffix: str = ".log") -> str:
        """<logs>/<run id><suffix>: the run's log (.log), timings (.timings.json) or
        config (.config.json)."""
        return os.path.join(self.logs_dir, f"{run_id}{suffix}")


def absolute(path: str) -> str:
    # Kubeflow roots are URIs (gs://...): abspath would turn them into local paths.
    return path if "://" in path else os.path.abspath(path)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if "://" in base else os.path.join(base, *parts)
