"""Files on local disk or an object store (gs://, s3://, through Beam's FileSystems):
list, read, write at once, delete and move, the same calls for both. Local paths take the
fast, atomic route (os.walk, rename); `file://` paths count as local.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

NOT_JSON = object()  # what `read_json` gives for a file that exists but does not parse


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def join(directory: str, *relative: str) -> str:
    return FileSystems.join(directory, *relative)


def iter_files(directory: str) -> Iterator[str]:
    """Relative paths ('/'-separated) of the files under `directory`; nothing when it is
    absent. Lazy on local disk, so a check can stop at the first file it does not expect."""
    if is_local(directory):
        root = local_path(directory)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                yield os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
        return
    prefix = directory.rstrip("/") + "/"
    for meta in FileSystems.match([prefix + "**"])[0].metadata_list:
        if not meta.path.endswith("/"):  # a "folder" placeholder object
            yield meta.path[len(prefix) :]


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    if is_local(path):
        try:
            with open(local_path(path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` by `data` at once: a rename on local disk (readers never see half a
    file); on object stores a single upload is already all-or-nothing."""
    if is_local(path):
        path = local_path(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
        return
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def read_json(path: str):
    """Parsed JSON, None when the file is absent, `NOT_JSON` when it does not parse."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return NOT_JSON


def delete_tree(directory: str) -> None:
    """Remove `directory` and everything under it; nothing to do when it is absent."""
    if is_local(directory):
        shutil.rmtree(local_path(directory), ignore_errors=True)
        return
    files = [join(directory, f) for f in iter_files(directory)]
    if files:
        FileSystems.delete(files)


def delete_files(directory: str, relative: list[str]) -> None:
    if not relative:
        return
    if is_local(directory):
        root = local_path(directory)
        for name in relative:
            try:
                os.remove(os.path.join(root, name))
            except FileNotFoundError:
                pass
            _prune_empty_parents(root, name)
        return
    present = set(iter_files(directory))
    existing = [join(directory, f) for f in relative if f in present]
    if existing:
        FileSystems.delete(existing)


def _prune_empty_parents(root: str, relative: str) -> None:
    """Remove the folders a deleted file leaves empty (e.g. a `rejected/` no longer written)."""
    parent = os.path.dirname(relative)
    while parent:
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            return  # not empty, or already gone
        parent = os.path.dirname(parent)


def move_files(source: str, destination: str, relative: list[str]) -> None:
    if not relative:
        return
    if is_local(source):
        src, dst = local_path(source), local_path(destination)
        for name in relative:
            target = os.path.join(dst, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(os.path.join(src, name), target)
        return
    FileSystems.rename(
        [join(source, f) for f in relative], [join(destination, f) for f in relative]
    )


def remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or not there


def move_tree(source: str, destination: str, last: str | None = None) -> None:
    """Move a folder: one atomic rename on local disk; file by file (copy + delete) on
    object stores, `last` (a manifest) after the rest, where a reader must not trust
    `destination` until the caller says so (refresh: the index names a version only after
    its move)."""
    if is_local(source):
        os.rename(local_path(source), local_path(destination))
        return
    files = list(iter_files(source))
    move_files(source, destination, [f for f in files if f != last])
    move_files(source, destination, [f for f in files if f == last])
