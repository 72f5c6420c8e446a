"""The serving directory: `<serving_dir>/<version>/` per pushed searcher, `latest` pointing
at the newest. TF-free: the search CLI resolves versions with it.

Publishing is atomic for readers: a version is written under a hidden staging name and
renamed into place, then `latest` (a symlink) is replaced by rename, so a reader sees
either the previous complete version or the new complete one, never a half-written one.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import uuid

LATEST = "latest"
VERSION_FILE = "version.json"


class ServingError(LookupError):
    pass


def list_versions(serving_dir: str) -> list[int]:
    if not os.path.isdir(serving_dir):
        return []
    return sorted(int(name) for name in os.listdir(serving_dir) if name.isdigit())


def resolve(serving_dir: str, which: str = LATEST) -> str:
    """The directory of version `which` ("latest" or a number)."""
    if which == LATEST:
        link = os.path.join(serving_dir, LATEST)
        if not os.path.exists(link):
            raise ServingError(f"{serving_dir}: nothing pushed yet (no '{LATEST}'); run `t2i run` first")
        return os.path.realpath(link)
    if not str(which).isdigit():
        raise ServingError(f"version must be 'latest' or a number, got {which!r}")
    path = os.path.join(serving_dir, str(int(which)))
    if not os.path.isdir(path):
        known = ", ".join(map(str, list_versions(serving_dir))) or "none"
        raise ServingError(f"{serving_dir}: no version {which} (versions: {known})")
    return path



def publish(source_files: dict[str, str], serving_dir: str, info: dict) -> tuple[int, str]:
    """Copies {name: source path} into the next version directory and points `latest` at it.

    Returns (version, directory). `info` is written as version.json with the version added.
    """
    os.makedirs(serving_dir, exist_ok=True)
    staging = os.path.join(serving_dir, f".staging-{uuid.uuid4().hex}")
    os.makedirs(staging)
    try:
        for name, source in source_files.items():
            target = os.path.join(staging, name)
            if os.path.isdir(source):
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        version = _claim_next_version(staging, serving_dir, info)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_latest_at(serving_dir, str(version))
    return version, os.path.join(serving_dir, str(version))


def _claim_next_version(staging: str, serving_dir: str, info: dict) -> int:
    version = (list_versions(serving_dir) or [0])[-1] + 1
    while True:
        with open(os.path.join(staging, VERSION_FILE), "w") as f:
            json.dump({**info, "version": version}, f, indent=2, sort_keys=True)
        try:
            # rename() onto an existing (never empty) version directory fails, so two
            # pushers can never publish under one number.
            os.rename(staging, os.path.join(serving_dir, str(version)))
            return version
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise ServingError(f"cannot publish version {version} in {serving_dir}: {e}") from e
            version += 1


def _point_latest_at(serving_dir: str, version_name: str) -> None:
    temporary = os.path.join(serving_dir, f".{LATEST}-{uuid.uuid4().hex}")
    os.symlink(version_name, temporary)
    os.replace(temporary, os.path.join(serving_dir, LATEST))
