"""The serving directory: `<serving_dir>/<version>/` per pushed searcher, `latest` pointing
at the newest. TF-free: the search CLI resolves versions with it.

Publishing is atomic for readers: a version is written under a hidden staging name and
renamed into place, then `latest` (a symlink) is replaced by rename, so a reader sees
either the previous complete version or the new complete one, never a half-written one.

Each version records the size and sha256 of every file it holds and where it was copied
from (manifest.json). `check_and_repair` (every `t2i run` calls it) restores a damaged or
missing file from its source artifact and re-points a `latest` whose version is gone: a
cached Pusher never runs again, so nothing else would notice.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid

LATEST = "latest"
VERSION_FILE = "version.json"
MANIFEST_FILE = "manifest.json"


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
        if os.path.islink(link) and not os.path.exists(link):
            known = ", ".join(map(str, list_versions(serving_dir))) or "none"
            raise ServingError(
                f"{serving_dir}: '{LATEST}' points at version {os.readlink(link)}, which no longer "
                f"exists (versions: {known}); pass a version number, or `t2i run` re-points it"
            )
        if not os.path.exists(link):
            raise ServingError(
                f"{serving_dir}: nothing pushed yet (no '{LATEST}'); run `t2i run` first"
            )
        return os.path.realpath(link)
    if not str(which).isdigit():
        raise ServingError(f"version must be 'latest' or a number, got {which!r}")
    path = os.path.join(serving_dir, str(int(which)))
    if not os.path.isdir(path):
        known = ", ".join(map(str, list_versions(serving_dir))) or "none"
        raise ServingError(f"{serving_dir}: no version {which} (versions: {known})")
    return path


def read_version_info(version_dir: str) -> dict:
    """version.json of a pushed version: its run id, searcher artifact, push time, ..."""
    with open(os.path.join(version_dir, VERSION_FILE)) as f:
        return json.load(f)


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
        _write_manifest(staging, source_files)
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


# ---------------------------------------------------------------- integrity


def file_digest(path: str) -> dict:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return {"bytes": os.path.getsize(path), "sha256": sha.hexdigest()}


def _write_manifest(version_dir: str, source_files: dict[str, str]) -> None:
    files = {}
    for name, source in source_files.items():
        if os.path.isdir(source):
            for folder, _, names in os.walk(source):
                for file_name in names:
                    path = os.path.join(folder, file_name)
                    relative = os.path.join(name, os.path.relpath(path, source))
                    files[relative] = {
                        **file_digest(os.path.join(version_dir, relative)),
                        "source": os.path.abspath(path),
                    }
        else:
            files[name] = {
                **file_digest(os.path.join(version_dir, name)),
                "source": os.path.abspath(source),
            }
    with open(os.path.join(version_dir, MANIFEST_FILE), "w") as f:
        json.dump({"files": files}, f, indent=2, sort_keys=True)


def damaged_files(version_dir: str) -> list[str]:
    """Files of a pushed version whose size or sha256 differs from the push (or that are
    gone), as "name: problem" lines; [] when intact or pushed before manifests existed."""
    manifest = os.path.join(version_dir, MANIFEST_FILE)
    if not os.path.isfile(manifest):
        return []
    with open(manifest) as f:
        files = json.load(f)["files"]
    problems = []
    for name, recorded in sorted(files.items()):
        path = os.path.join(version_dir, name)
        if not os.path.isfile(path):
            problems.append(f"{name}: missing")
            continue
        now = file_digest(path)
        if now["bytes"] != recorded["bytes"]:
            problems.append(f"{name}: {now['bytes']} bytes, {recorded['bytes']} when pushed")
        elif now["sha256"] != recorded["sha256"]:
            problems.append(f"{name}: content changed since the push (sha256 differs)")
    return problems


def check_and_repair(serving_dir: str) -> list[str]:
    """Checks what `latest` serves and repairs it; returns one line per thing it found or
    did ([] when all is well). Raises ServingError when a damaged file cannot be restored
    (its source artifact is gone or damaged too)."""
    link = os.path.join(serving_dir, LATEST)
    if not os.path.islink(link):
        return []
    notes = []
    if not os.path.exists(link):
        versions = list_versions(serving_dir)
        gone = os.readlink(link)
        if not versions:
            os.unlink(link)
            return [
                f"serving: '{LATEST}' pointed at version {gone}, which no longer exists, and "
                "no version is left; it was removed (the next push recreates it)"
            ]
        _point_latest_at(serving_dir, str(versions[-1]))
        notes.append(
            f"serving: '{LATEST}' pointed at version {gone}, which no longer exists "
            f"(versions: {', '.join(map(str, versions))}); it now points at "
            f"version {versions[-1]}"
        )
    version_dir = os.path.realpath(link)
    problems = damaged_files(version_dir)
    if problems:
        _restore(version_dir, [p.split(":", 1)[0] for p in problems])
        notes.append(
            f"serving: version {os.path.basename(version_dir)} was damaged "
            f"({'; '.join(problems)}); restored from the pushed artifacts"
        )
    return notes


def _restore(version_dir: str, names: list[str]) -> None:
    with open(os.path.join(version_dir, MANIFEST_FILE)) as f:
        files = json.load(f)["files"]
    for name in names:
        recorded, target = files[name], os.path.join(version_dir, name)
        source = recorded["source"]
        if not os.path.isfile(source) or file_digest(source) != {
            "bytes": recorded["bytes"],
            "sha256": recorded["sha256"],
        }:
            raise ServingError(
                f"{target} is damaged and its source {source} is gone or differs from what "
                "was pushed; run the pipeline again to push a new version"
            )
        # Copy beside it, then rename: a reader never sees a half-written file.
        temporary = os.path.join(os.path.dirname(target), f".{os.path.basename(name)}.restore")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, temporary)
        os.replace(temporary, target)
