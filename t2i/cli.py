"""The `t2i` command line: a thin layer over functions the tests call directly.

Heavy imports (TensorFlow, the TFX DAG: docs/STACK.md §6) happen inside the commands that need
them, so `t2i --help`, `t2i version` and `t2i search` start fast.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata

import click

from components.common import runtime_env

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


@main.command("sample-data")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the collection into (new or empty).")
@click.option("--images", "num_images", default=2000, show_default=True,
              type=click.IntRange(min=1), help="Number of images.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Same seed, same collection, byte for byte.")
@click.option("--spans", default=0, show_default=True, type=click.IntRange(min=0),
              help="Split the images into span-1..span-K folders (0: one collection).")
def sample_data_command(out_dir: str, num_images: int, seed: int, spans: int) -> None:
    """Write a synthetic captioned collection in COCO captions format (works offline)."""
    from t2i import sample_data

    try:
        summary = sample_data.generate(out_dir, num_images=num_images, seed=seed, spans=spans)
    except (ValueError, OSError) as e:
        fail(str(e))
    layout = f"{spans} spans" if spans else "train2017/val2017"
    click.echo(f"sample-data: {summary['images']} images, {summary['captions']} captions "
               f"({layout}, seed {seed}) in {out_dir}, {summary['seconds']:.1f} s")


@main.command("search")
@click.argument("query", required=False)
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Number of results.")
@click.option("--searcher", default="latest", show_default=True,
              help="A searcher .tflite, a folder holding one, a pushed version number, "
                   "or 'latest'.")
@click.option("--image", type=click.Path(dir_okay=False),
              help="Search with this image (image_searcher.tflite) instead of text.")
@click.option("--show", type=click.Path(dir_okay=False),
              help="Also write a contact sheet PNG of the results here.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--images", "images_dir", help="Collection root for --show [data.data_dir].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (for pusher.serving_dir and data.data_dir).")
@click.option("--root", help="Pipeline root whose serving/ holds the pushed versions [runs].")
def search_command(query, k, searcher, image, show, as_json, images_dir, config_path, root) -> None:
    """Search the on-device searcher (TF-free): rank, similarity, image id, file, Flickr URL."""
    from t2i import search as search_lib
    from t2i.configs import ConfigError, load_config
    from t2i.paths import Paths

    try:
        config = load_config(config_path, [f"pipeline.root={root}"] if root else [])
        request = search_lib.SearchRequest(query, image, k, searcher, Paths.from_config(config).serving_dir)
        path, hits = search_lib.search(request)
        click.echo(search_lib.format_json(request, path, hits) if as_json
                   else search_lib.format_table(hits))
        if show:
            missing = search_lib.contact_sheet(hits, images_dir or config.data.data_dir, show)
            if missing:
                click.echo(f"warning: {len(missing)} images not found under "
                           f"{images_dir or config.data.data_dir} (e.g. {missing[0]})", err=True)
    except (search_lib.SearchError, ConfigError, OSError) as e:
        fail(str(e))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def fail(message: str, code: int = 1) -> None:
    """Ends the command with one readable line on stderr."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _register_commands() -> None:
    from t2i import cli_kubeflow, cli_runs, cli_schedule

    for command in cli_runs.COMMANDS + cli_kubeflow.COMMANDS + cli_schedule.COMMANDS:
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
