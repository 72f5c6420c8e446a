"""The `t2i` command line: a thin layer over functions the tests call directly.

Heavy imports (TensorFlow, the TFX DAG: docs/STACK.md §6) happen inside the commands that need
them, so `t2i --help`, `t2i version` and `t2i search` start fast.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

import click

from components.common import runtime_env
from t2i.cli_errors import EXIT_CODES_HELP, T2iGroup, fail

STACK_PACKAGES = (
    "tfx",
    "tensorflow",
    "tf-keras",
    "apache-beam",
    "kfp",
    "scann",
    "tflite-support",
    "ml-metadata",
    "tensorflow-hub",
)


COMPLETION_HELP = """\b
Shell completion (click's): put in ~/.bashrc
  eval "$(_T2I_COMPLETE=bash_source t2i)"
zsh: the same with zsh_source in ~/.zshrc; fish: _T2I_COMPLETE=fish_source t2i | source"""


@click.group(
    cls=T2iGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP + "\n\n" + COMPLETION_HELP,
)
@click.version_option(
    package_name="t2i-searcher",
    prog_name="t2i-searcher",
    message="%(prog)s %(version)s (`t2i version` lists the ML stack too)",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Show TensorFlow/TFX/Beam logs on the terminal."
)
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
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the collection into (new or empty).",
)
@click.option(
    "--images",
    "num_images",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of images.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Same seed, same collection, byte for byte.",
)
@click.option(
    "--spans",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Split the images into span-1..span-K folders (0: one collection).",
)
@click.option(
    "--add-span",
    is_flag=True,
    help="Add span-<N+1> to a collection of span folders, with image ids after "
    "every existing one (new images for `t2i run --pipeline rebuild`).",
)
def sample_data_command(
    out_dir: str, num_images: int, seed: int, spans: int, add_span: bool
) -> None:
    """Write a synthetic captioned collection in COCO captions format (works offline)."""
    from t2i import sample_data

    try:
        if add_span:
            first_id = sample_data.next_image_id(out_dir) if os.path.isdir(out_dir) else 1
            span_dir = sample_data.add_span(out_dir, num_images, seed=seed)
            click.echo(
                f"sample-data: {num_images} images with new ids {first_id}.."
                f"{first_id + num_images - 1} in {span_dir}"
            )
            return
        summary = sample_data.generate(out_dir, num_images=num_images, seed=seed, spans=spans)
    except (ValueError, OSError) as e:
        fail(str(e))
    layout = f"{spans} spans" if spans else "train2017/val2017"
    click.echo(
        f"sample-data: {summary['images']} images, {summary['captions']} captions "
        f"({layout}, seed {seed}) in {out_dir}, {summary['seconds']:.1f} s"
    )


@main.command("search")
@click.argument("query", nargs=-1)
@click.option(
    "-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000), help="Number of results."
)
@click.option(
    "--searcher",
    default="latest",
    show_default=True,
    help="A searcher .tflite, a folder holding one, a pushed version number, or 'latest'.",
)
@click.option(
    "--image",
    type=click.Path(dir_okay=False),
    help="Search with this image (image_searcher.tflite) instead of text.",
)
@click.option(
    "--show",
    type=click.Path(dir_okay=False),
    help="Also write a contact sheet PNG of the results here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--queries-file",
    type=click.Path(dir_okay=False),
    help="Search every line of this file (one query a line) through one searcher, opened once.",
)
@click.option(
    "--images",
    "images_dir",
    help="Collection root (captions, image ids, --show) [the one the run ingested].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (for pusher.serving_dir and data.data_dir).",
)
@click.option("--root", help="Pipeline root whose serving/ holds the pushed versions [runs].")
def search_command(
    query, k, searcher, image, show, as_json, queries_file, images_dir, config_path, root
) -> None:
    """Search the on-device searcher (TF-free): rank, similarity, image id, file, Flickr URL
    and first caption. QUERY is the rest of the line (quotes optional): t2i search a red circle"""
    from t2i import native_guard
    from t2i import search as search_lib
    from t2i.configs import ConfigError, load_config
    from t2i.paths import Paths

    text = " ".join(query) if query else None
    if queries_file and (text or image or show):
        fail("--queries-file searches the file's lines: give no QUERY, --image or --show with it")
    native_guard.run_guarded(
        f"searching {searcher} with image {image}"
        if image
        else f"searching {searcher} for the queries in {queries_file}"
        if queries_file
        else f"searching {searcher} for {text!r}"
    )
    try:
        config = load_config(config_path, [f"pipeline.root={root}"] if root else [])
        paths = Paths.from_config(config)
        request = search_lib.SearchRequest(text, image, k, searcher, paths.serving_dir)
        if queries_file:
            _search_queries_file(request, queries_file, images_dir, config, paths, as_json)
            return
        path, hits = search_lib.search(request)
        data_dir = images_dir or config.data.data_dir
        catalog = search_lib.catalog_for(path, paths.root, data_dir, recorded_first=not images_dir)
        click.echo(
            search_lib.format_json(request, path, hits, catalog)
            if as_json
            else search_lib.format_table(hits, catalog)
        )
        if show:
            title = f"\u201c{text}\u201d" if text else f"images like {image}"
            missing = search_lib.contact_sheet(
                hits, catalog.data_dir if catalog else data_dir, show, title=title, catalog=catalog
            )
            click.echo(f"wrote contact sheet {os.path.abspath(show)}", err=as_json)
            if missing:
                click.echo(
                    f"warning: {len(missing)} images not found under "
                    f"{catalog.data_dir if catalog else data_dir} (e.g. {missing[0]})",
                    err=True,
                )
    except (search_lib.SearchError, ConfigError, OSError) as e:
        fail(str(e))


def _search_queries_file(request, queries_file, images_dir, config, paths, as_json) -> None:
    from t2i import search as search_lib

    queries = search_lib.read_queries(queries_file)
    path, hits = search_lib.search_texts(request, queries, queries_file)
    data_dir = images_dir or config.data.data_dir
    catalog = search_lib.catalog_for(path, paths.root, data_dir, recorded_first=not images_dir)
    if as_json:
        click.echo(search_lib.format_json_many(path, queries, hits, catalog))
        return
    for query, query_hits in zip(queries, hits):
        click.echo(f"query: {query}\n{search_lib.format_table(query_hits, catalog)}\n")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _register_commands() -> None:
    from t2i import cli_kubeflow, cli_runs, cli_schedule, cli_serve

    commands = cli_runs.COMMANDS + cli_kubeflow.COMMANDS + cli_schedule.COMMANDS
    for command in commands + cli_serve.COMMANDS:
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
