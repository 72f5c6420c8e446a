"""t2i-searcher custom TFX components, one subpackage each (options.py, component.py,
executor.py, work.py); shared code in components/common. Nothing here imports the app (t2i)."""

from components.common import runtime_env as _runtime_env  # noqa: F401  (sets the process environment)
