"""`t2i serve`: the search page, the run history and the JSON API in a browser.

Registered on the `t2i` group by t2i/cli.py. The server process never imports
TensorFlow: it answers through the Task Library, as a phone does (DESIGN.md §3).
"""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--root", help="Pipeline root: metadata.sqlite, reports/ and serving/ [runs].")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the default answers this machine only.",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (pusher.serving_dir, data.data_dir).",
)
def serve_command(root, host, port, config_path) -> None:
    """Serve the searcher and the run history at http://HOST:PORT (API docs at /docs)."""
    import uvicorn

    from components.common.tf_free import block_tensorflow
    from t2i.configs import ConfigError, load_config
    from t2i.paths import Paths
    from t2i.web.app import ServeSettings, create_app

    block_tensorflow()
    try:
        config = load_config(config_path, [f"pipeline.root={root}"] if root else [])
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    paths = Paths.from_config(config)
    settings = ServeSettings(
        root=paths.root, serving_dir=paths.serving_dir, data_dir=config.data.data_dir
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: serving on {host}: anyone who can reach it can search and read "
            "the run history (there is no authentication)",
            err=True,
        )
    click.echo(f"t2i serve: http://{host}:{port}/  (root {settings.root}; Ctrl-C stops)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


COMMANDS = (serve_command,)
