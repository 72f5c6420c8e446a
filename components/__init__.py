"""t2i-searcher custom TFX components, one subpackage each (component.py + executor.py)."""
from pipeline import runtime_env as _runtime_env  # noqa: F401  (sets the process environment)
