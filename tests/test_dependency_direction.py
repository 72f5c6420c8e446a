"""Dependencies point one way: the app (t2i) -> components/<name> -> components/common.

Parses every module under components/ with `ast` (imports inside functions included) and
checks that none imports the app, that components/common imports only itself, and that a
component imports only components.common and its own package.
"""

from __future__ import annotations

import ast
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
COMPONENTS = REPO / "components"
APP_PACKAGE = "t2i"


def imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file; `from a import b` yields
    a.b as well as a, so importing a sibling package through its parent is caught."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def allowed_prefixes(path: pathlib.Path) -> tuple[str, ...]:
    package = path.relative_to(COMPONENTS).parts[0]
    if package.endswith(".py"):  # components/__init__.py
        return ("components.common",)
    if package == "common":
        return ("components.common",)
    return ("components.common", f"components.{package}")


def violations() -> list[str]:
    problems = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        allowed = allowed_prefixes(path)
        for line, module in imported_modules(path):
            where = f"{path.relative_to(REPO)}:{line}"
            top = module.split(".")[0]
            if top == APP_PACKAGE:
                problems.append(f"{where}: imports the app ({module})")
            elif (
                top == "components"
                and module != "components"
                and not any(
                    module == prefix or module.startswith(prefix + ".") for prefix in allowed
                )
            ):
                problems.append(f"{where}: imports another component's internals ({module})")
    return problems


def test_components_import_neither_the_app_nor_each_other():
    assert violations() == []


def test_the_checker_sees_every_component_and_flags_a_violation(tmp_path, monkeypatch):
    packages = {p.parent.name for p in COMPONENTS.glob("*/__init__.py")}
    assert {"common", "trainer", "searcher_builder", "image_embedder"} <= packages
    # The checker itself must catch what it is there for: plant both kinds of violation.
    fake = tmp_path / "components"
    (fake / "trainer").mkdir(parents=True)
    (fake / "trainer" / "bad.py").write_text(
        "from t2i.configs import Config\n"
        "def f():\n    from components.searcher_builder import tuning\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "COMPONENTS", fake)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert violations() == [
        "components/trainer/bad.py:1: imports the app (t2i.configs)",
        "components/trainer/bad.py:1: imports the app (t2i.configs.Config)",
        "components/trainer/bad.py:3: imports another component's internals "
        "(components.searcher_builder)",
        "components/trainer/bad.py:3: imports another component's internals "
        "(components.searcher_builder.tuning)",
    ]
