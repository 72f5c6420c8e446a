"""The `t2i` command line: a thin layer over functions the tests call directly.

Heavy imports (TensorFlow ~8 s, `tfx.v1` ~23 s) happen inside the commands that need
them, so `t2i --help`, `t2i version` and `t2i search` start fast.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata

import click

from pipeline import runtime_env

STACK_PACKAGES = (
    "tfx", "tensorflow", "tf-keras", "apache-beam", "kfp", "scann", "tflite-support",
    "ml-metadata", "tensorflow-hub",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow/TFX/Beam logs on the terminal.")
def main(verbose: bool) -> None:
    """t2i: turn a captioned image collection into an on-device text-to-image searcher."""
    runtime_env.set_verbose(verbose)


@main.command()
def version() -> None:
    """Print the versions of t2i-searcher, Python and the ML stack (without importing it)."""
    click.echo(f"t2i-searcher {_version('t2i-searcher')}")
    click.echo(f"python {platform.python_version()}")
    for package in STACK_PACKAGES:
        click.echo(f"{package} {_version(package)}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def fail(message: str, code: int = 1) -> None:
    """Ends the command with one readable line on stderr."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
