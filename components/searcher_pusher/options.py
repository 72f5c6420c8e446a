"""SearcherPusher's options: the `pusher` section of the app's config (t2i/configs.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PusherOptions:
    serving_dir: str = ""  # empty: <pipeline.root>/serving
