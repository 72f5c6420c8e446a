"""The t2i app: DAG definitions, config, runners, schedules, lineage and the CLI."""

from components.common import runtime_env as _runtime_env  # noqa: F401  (sets the process environment)
