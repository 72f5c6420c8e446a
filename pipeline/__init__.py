"""t2i-searcher pipeline: DAG definitions, configs, runners, schedules, lineage and the CLI."""
from pipeline import runtime_env as _runtime_env  # noqa: F401  (sets the process environment)
