"""pyproject.toml declares what requirements.in lists (from which the lock is made)."""

import pathlib

import tomli

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_pyproject_declares_the_requirements_in_list():
    project = tomli.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    listed = [
        line.split("#")[0].strip() for line in (REPO / "requirements.in").read_text().splitlines()
    ]
    assert sorted(declared) == sorted(line for line in listed if line)
    assert project["scripts"]["t2i"] == "t2i.cli:main"
