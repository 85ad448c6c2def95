"""A Beam FileSystem held in memory (scheme `memfs://`): a stand-in for gs:// or s3:// that
needs no network. Beam finds it by its scheme once this module is imported."""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter

from apache_beam.io.filesystem import CompressionTypes, FileMetadata, FileSystem

SCHEME = "memfs"
FILES: dict[str, bytes] = {}  # path -> contents, shared by every instance Beam makes
BYTES_READ: Counter = Counter()  # path -> bytes handed out by open() files


class _Upload(io.BytesIO):
    """A file being written: it appears in FILES, whole, when closed (as an object store
    upload does)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def close(self):
        if not self.closed:
            FILES[self.path] = self.getvalue()
        super().close()


class _Download(io.BytesIO):
    """A file being read, counting the bytes it hands out."""

    def __init__(self, path: str):
        super().__init__(FILES[path])
        self.path = path

    def read(self, size=-1):
        data = super().read(size)
        BYTES_READ[self.path] += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer)
        BYTES_READ[self.path] += n
        return n


class MemoryFileSystem(FileSystem):
    """Flat keys, no directories, like an object store. Compression is ignored: files are
    stored as written."""

    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path in sorted(FILES):
            if path.startswith(dir_or_prefix):
                yield self.metadata(path)

    def create(self, path, mime_type=None, compression_type=CompressionTypes.AUTO):
        return _Upload(path)

    def open(self, path, mime_type=None, compression_type=CompressionTypes.AUTO):
        if path not in FILES:
            raise FileNotFoundError(path)
        return _Download(path)

    def copy(self, source_file_names, destination_file_names):
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            FILES[destination] = FILES[source]

    def rename(self, source_file_names, destination_file_names):
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            FILES[destination] = FILES.pop(source)

    def exists(self, path):
        return path in FILES

    def size(self, path):
        return len(FILES[path])

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return hashlib.sha256(FILES[path]).hexdigest()

    def metadata(self, path):
        return FileMetadata(path, len(FILES[path]), 0.0)

    def delete(self, paths):
        for path in paths:
            del FILES[path]


def upload(local_dir: str, url: str) -> None:
    """Copy every file under `local_dir` to `url` (a memfs:// directory)."""
    for root, _, names in os.walk(local_dir):
        for name in names:
            local = os.path.join(root, name)
            relative = os.path.relpath(local, local_dir).replace(os.sep, "/")
            with open(local, "rb") as f:
                FILES[f"{url.rstrip('/')}/{relative}"] = f.read()
