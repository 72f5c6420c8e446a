"""`t2i run`, `demo`, `report`, and the ML Metadata inspection commands (`runs`,
`artifacts`, `lineage`, `diff`). Registered on the `t2i` group by t2i/cli.py.

The inspection commands import only ml_metadata (~0.2 s): no TensorFlow, no TFX.
"""

from __future__ import annotations

import json
import sys

import click

from t2i.cli_errors import (
    EXIT_BUSY,
    EXIT_CODES_HELP,
    EXIT_DATA,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
)
from t2i.paths import DEFAULT_ROOT

CONFIG_HELP = "A YAML/TOML config file (see README: Configuration)."
SET_HELP = "Override one config field, e.g. --set trainer.epochs=5 (repeatable)."


def config_options(command):
    command = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP
    )(command)
    command = click.option(
        "--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE", help=SET_HELP
    )(command)
    command = click.option(
        "--root", help=f"Pipeline root, metadata store and outputs [{DEFAULT_ROOT}]."
    )(command)
    return command


def load(config_path, overrides, root=None, data=None, beam_args=()):
    from t2i.configs import ConfigError, load_config

    extra = list(overrides)
    if root:
        extra.append(f"pipeline.root={root}")
    if data:
        extra.append(f"data.data_dir={data}")
    try:
        config = load_config(config_path, extra)
    except ConfigError as e:
        raise CommandError(str(e), EXIT_USAGE) from None
    config.pipeline.beam_args.extend(beam_args)
    return config


WAIT_HELP = "If another command holds the pipeline root, wait for it instead of stopping."


def run_or_fail(start_run) -> int:
    """Runs `start_run()` (a workflows call returning an outcome or an exit code) and turns
    what stops a run before it starts into one line and its exit code."""
    from components.common.options import ConfigError
    from t2i import preflight, root_lock

    try:
        outcome = start_run()
    except ConfigError as e:
        raise CommandError(str(e), EXIT_USAGE) from None
    except preflight.RootError as e:
        raise CommandError(str(e), EXIT_USAGE) from None
    except preflight.DataDirError as e:
        raise CommandError(str(e), EXIT_DATA) from None
    except root_lock.RootBusyError as e:
        raise CommandError(str(e), EXIT_BUSY) from None
    if isinstance(outcome, int):
        return outcome
    if outcome.succeeded:
        return EXIT_OK
    return EXIT_DATA if outcome.failed_component.startswith(DATA_COMPONENTS) else EXIT_FAILED


# A run failing in these components failed on its input data.
DATA_COMPONENTS = ("CocoExampleGen", "DataGate")


@click.command("run", epilog=EXIT_CODES_HELP)
@click.option(
    "--data",
    type=click.Path(),
    help="The collection: a COCO root, a generic COCO-format folder or a folder of span-<N>/.",
)
@click.option(
    "--beam-arg",
    "beam_args",
    multiple=True,
    help="A Beam pipeline arg, e.g. --beam-arg=--direct_num_workers=2 (repeatable).",
)
@click.option(
    "--pipeline",
    "pipeline_kind",
    type=click.Choice(["full", "rebuild"]),
    default="full",
    show_default=True,
)
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@config_options
def run_command(data, beam_args, pipeline_kind, wait, config_path, overrides, root):
    """Run the pipeline locally (LocalDagRunner, SQLite ML Metadata under the root)."""
    from t2i import workflows

    config = load(config_path, overrides, root, data, beam_args)
    sys.exit(run_or_fail(lambda: workflows.run(config, pipeline_kind=pipeline_kind, wait=wait)))


# What `t2i demo` trains on its generated shapes (see demo_command); --set wins.
DEMO_TOWERS = ("trainer.image_tower=small_cnn", "trainer.text_tower=small_text")


@click.command("demo")
@click.option(
    "--images",
    "num_images",
    default=2000,
    show_default=True,
    help="Sample images to generate if absent.",
)
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@config_options
def demo_command(num_images, wait, config_path, overrides, root):
    """Generate the sample collection (if absent), run the pipeline, query the searcher.

    The demo trains the small towers unless a config file or --set names others: on the
    generated shapes they reached text->image R@10 0.984 in a few minutes, where the
    pretrained defaults (efficientnet_lite0 + minilm_l6) reached 0.980 and took over 8
    (their frozen features alone: 120 s + 170 s on 2 cores), 697 s in all."""
    from t2i import workflows

    if config_path is None:
        overrides = DEMO_TOWERS + tuple(overrides)
    config = load(config_path, overrides, root)
    sys.exit(run_or_fail(lambda: workflows.demo(config, num_images=num_images, wait=wait)))


def store_options(command):
    command = click.option(
        "--root",
        default=DEFAULT_ROOT,
        show_default=True,
        help="Local pipeline root holding metadata.sqlite.",
    )(command)
    command = click.option(
        "--mlmd-host", help="A remote ML Metadata gRPC service instead of the local store."
    )(command)
    command = click.option("--mlmd-port", type=int, default=8080, show_default=True)(command)
    return command


def open_store(root, mlmd_host, mlmd_port):
    from t2i import mlmd

    try:
        return mlmd.connect(root, mlmd_host, mlmd_port)
    except mlmd.StoreError as e:
        raise CommandError(str(e)) from None


@click.command("report")
@click.argument("run_id", required=False)
@click.option("--root", default=DEFAULT_ROOT, show_default=True)
def report_command(run_id, root):
    """Write the HTML report of a run (default: the latest)."""
    from t2i import report

    store = open_store(root, None, None)
    run_id = run_id or _latest_run(store)
    click.echo(report.write_report(root, run_id))


@click.command("runs")
@store_options
@click.option("--pipeline-name", help="Only runs of this pipeline.")
@click.option("--json", "as_json", is_flag=True)
def runs_command(root, mlmd_host, mlmd_port, pipeline_name, as_json):
    """Pipeline runs: start, state, duration, components and the pushed version."""
    from t2i.lineage import history

    store = open_store(root, mlmd_host, mlmd_port)
    rows = history.run_rows(store, pipeline_name)
    if not mlmd_host:  # a local root: its lock says which unfinished run really runs
        _mark_abandoned(rows, store, root)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no runs recorded")
        return
    click.echo(
        f"{'run':<22} {'started':<19}  {'state':<9}{'duration':>10}  {'components':<20}  pushed"
    )
    for row in rows:
        components = f"{row['components']} ({row['cached']} cached)"
        pushed = f"v{row['pushed_version']}" if row["pushed_version"] else "-"
        idle = (
            f"  (the last of {row['idle_ticks']} scheduled ticks with nothing new)"
            if row["idle_ticks"] > 1
            else "  (a scheduled tick with nothing new)"
            if row["idle_ticks"]
            else ""
        )
        click.echo(
            f"{row['run']:<22} {row['started']:<19}  {row['state']:<9}"
            f"{row['seconds']:>8.1f} s  {components:<20}  {pushed}{idle}"
        )


def _mark_abandoned(rows: list[dict], store, root: str) -> None:
    from t2i import local_runner, mlmd, root_lock, run_control

    held, active = root_lock.active_run(root)
    for row in rows:
        properties = mlmd.run_context(store, row["run"]).custom_properties
        row["state"] = run_control.shown_state(
            row["state"],
            row["run"],
            active if held else None,
            finished=local_runner.CONFIG_PROPERTY in properties,
            interrupted=run_control.INTERRUPTED_PROPERTY in properties,
        )


@click.command("artifacts")
@store_options
@click.option(
    "--type",
    "type_name",
    help="Searcher, Model, Embeddings, Examples, TextEncoder, PushedModel, ... (any case).",
)
@click.option("--json", "as_json", is_flag=True)
def artifacts_command(root, mlmd_host, mlmd_port, type_name, as_json):
    """Artifact versions with their key figures and URIs. #N is the artifact id (what
    `t2i lineage N` takes); the number ending each folder is the execution that made it."""
    from t2i.lineage import history
    from t2i.lineage.graph import LineageError

    try:
        rows = history.artifact_rows(open_store(root, mlmd_host, mlmd_port), type_name)
    except LineageError as e:
        raise CommandError(str(e)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        figures = ", ".join(f"{k}={v}" for k, v in row["figures"].items())
        click.echo(
            f"#{row['id']:<5} {row['type']:<22} {row['created']}  {figures}\n       {row['uri']}"
        )


@click.command("lineage")
@click.argument("target")
@store_options
@click.option(
    "--downstream", is_flag=True, help="What was made from the target, instead of what made it."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "dot", "png", "html"]),
    default="text",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to a file (required for png).")
def lineage_command(target, root, mlmd_host, mlmd_port, downstream, fmt, out):
    """Provenance of TARGET: an artifact id, a version (v3), `latest`, or a run id."""
    from t2i.lineage.graph import LineageError, resolve_target, trace

    store = open_store(root, mlmd_host, mlmd_port)
    try:
        graph = trace(store, resolve_target(store, target), downstream=downstream)
    except LineageError as e:
        raise CommandError(str(e)) from None
    if fmt == "png" and not out:
        raise CommandError("--format png needs --out FILE.png")
    content = _render_lineage(graph, fmt)
    if out:
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(out, mode) as f:
            f.write(content)
        click.echo(f"wrote {out}")
    else:
        click.echo(content)


def _render_lineage(graph, fmt):
    from t2i.lineage import render

    if fmt == "text":
        return render.to_text(graph)
    if fmt == "json":
        return json.dumps(render.to_json(graph), indent=2)
    if fmt == "dot":
        return render.to_dot(graph).to_string()
    if fmt == "html":
        return render.to_html(graph)
    from t2i import graphs

    try:
        return graphs.render(render.to_dot(graph), "png")
    except RuntimeError as e:
        raise CommandError(str(e)) from None


@click.command("diff")
@click.argument("version_a")
@click.argument("version_b")
@store_options
@click.option("--json", "as_json", is_flag=True)
def diff_command(version_a, version_b, root, mlmd_host, mlmd_port, as_json):
    """What differs between the lineage of two pushed searchers. Each of VERSION_A and
    VERSION_B is a version (1, v1, latest) or a run id (the version it pushed)."""
    from t2i.lineage import diff as lineage_diff
    from t2i.lineage.graph import LineageError

    store = open_store(root, mlmd_host, mlmd_port)
    try:
        diff = lineage_diff.diff_versions(
            store,
            lineage_diff.version_spec(store, version_a),
            lineage_diff.version_spec(store, version_b),
        )
    except LineageError as e:
        raise CommandError(str(e)) from None
    click.echo(
        json.dumps(lineage_diff.to_json(diff), indent=2)
        if as_json
        else lineage_diff.format_diff(diff)
    )


def _latest_run(store) -> str:
    from t2i import mlmd

    runs = mlmd.pipeline_runs(store)
    if not runs:
        raise CommandError("no runs recorded yet")
    return runs[-1].name


COMMANDS = (
    run_command,
    demo_command,
    report_command,
    runs_command,
    artifacts_command,
    lineage_command,
    diff_command,
)
