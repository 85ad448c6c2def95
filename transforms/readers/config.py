"""Every reader setting in one frozen dataclass, built from the `read:` entry of `stages:`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from transforms.settings import config_from_dict

SECTION = "stages.read"
EXTRACTORS = ("resiliparse", "trafilatura")

# SPDX ids (compared case-insensitively) of permissive licenses. The Stack (Kocetkov et al.,
# 2022, "The Stack: 3 TB of permissively licensed source code") kept only repositories under
# permissive licenses; this is the common core of such a list.
PERMISSIVE_LICENSES = (
    "mit",
    "mit-0",
    "apache-2.0",
    "bsd-2-clause",
    "bsd-3-clause",
    "0bsd",
    "isc",
    "unlicense",
    "cc0-1.0",
    "zlib",
    "bsl-1.0",
    "artistic-2.0",
    "python-2.0",
    "postgresql",
    "x11",
    "wtfpl",
)

# Regular expressions searched (case-insensitively) in a file's repository path. A subset of
# GitHub Linguist's vendor.yml: dependencies and third-party code checked into a repository.
VENDORED_PATTERNS = (
    r"(^|/)node_modules/",
    r"(^|/)bower_components/",
    r"(^|/)vendors?/",
    r"(^|/)third[-_]?party/",
    r"(^|/)external/",
    r"(^|/)Godeps/",
    r"(^|/)Pods/",
    r"(^|/)Carthage/",
    r"(^|/)\.?venv/",
    r"(^|/)site-packages/",
    r"(^|/)\.yarn/",
    r"(^|/)jquery([.-][^/]*)?\.js$",
)

# File names that say the file is minified, whatever its line lengths.
MINIFIED_NAME_PATTERNS = (r"[.-]min\.(js|mjs|cjs|css)$",)
# Languages that are shipped minified. Linguist (generated.rb, `minified_files?`) looks at
# line lengths of .js and .css files only; long lines in other languages are left to the
# quality stage's code rules, which exempt markup and data formats such as JSON.
MINIFIED_LANGUAGES = ("javascript", "css")


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """Settings of every reader. `None` disables the rule it belongs to.

    HTML (WARC):
      extractor: "resiliparse" (fast, the default) or "trafilatura" (slower; FineWeb's choice).
      main_content: Resiliparse's main-content extraction (boilerplate removal), as used for
        DCLM-Baseline (Li et al., 2024).
      html_content_types: HTTP content types (lowercase, no parameters) read as HTML.
      max_record_bytes: the largest record any reader takes, in bytes: a WARC/WET record
        block, a JSON line, a Parquet text/content value. A larger one is Rejected
        (`too_large`) without being buffered (JSON lines, WARC) or turned into a string
        (Parquet). Common Crawl truncates payloads at 1 MiB, so 16 MiB leaves room, and
        bounds a worker's memory per record.
      max_decompression_ratio: a gzip/zstd JSON lines file whose lines (those short enough
        to read) hold more than this many bytes per compressed byte, past their first
        256 KiB, is a decompression bomb: the rest of the file is dead-lettered, saying how
        much was left unread (every line would be a record downstream). Real text
        compresses 2-8x (C4/CCNet gzip, Pile zstd), synthetic test lines ~100x, a bomb of
        repeated lines 400-1000x (gzip) or more (zstd).
      verify_digests: check WARC-Block-Digest (sha1/sha256/sha512/md5) of each record read;
        a mismatch means damaged bytes and dead-letters the record.
      max_replacement_ratio: share of characters that may be U+FFFD after decoding with the
        chosen charset before the page counts as undecodable (`decode_error`).
    Common Crawl listings (warc.paths.gz / wet.paths.gz):
      commoncrawl_base_url: prefix for the relative paths a listing names: an http(s) URL,
        a local directory or a file:// URL.
      max_files_per_listing: read only the first N files a listing names (a quick sample).
    Code (The Stack style):
      code_license_allowlist: SPDX ids (any case); a file is kept only when every license
        listed for it is on the list. A file without license information is dropped.
      code_vendored_patterns / code_minified_patterns: regexes searched in the path.
      code_minified_languages / code_minified_mean_line_length: a file in one of these
        languages whose mean line length is above this is minified: 110 characters on .js
        and .css files, GitHub Linguist's rule.
      code_binary_scan_chars: a NUL in the first this-many characters marks a file binary
        (git's heuristic, which scans the first 8000 bytes).
    Parquet:
      parquet_batch_rows: rows per batch read from a Parquet file (bounds memory).
      parquet_batch_bytes: fewer rows per batch when the row group's statistics say its
        rows are large: a batch holds about this many bytes of (uncompressed) column data.
    """

    extractor: str = "resiliparse"
    main_content: bool = True
    html_content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    max_record_bytes: int = 16 << 20
    max_decompression_ratio: float | None = 250.0
    verify_digests: bool = True
    max_replacement_ratio: float = 0.01
    commoncrawl_base_url: str = "https://data.commoncrawl.org/"
    max_files_per_listing: int | None = None
    code_license_allowlist: tuple[str, ...] | None = PERMISSIVE_LICENSES
    code_vendored_patterns: tuple[str, ...] = VENDORED_PATTERNS
    code_minified_patterns: tuple[str, ...] = MINIFIED_NAME_PATTERNS
    code_minified_languages: tuple[str, ...] = MINIFIED_LANGUAGES
    code_minified_mean_line_length: float | None = 110.0
    code_binary_scan_chars: int = 8000
    parquet_batch_rows: int = 256
    parquet_batch_bytes: int = 64 << 20

    def __post_init__(self):
        if self.extractor not in EXTRACTORS:
            raise ValueError(
                f"{SECTION}.extractor must be one of {', '.join(EXTRACTORS)}, "
                f"not {self.extractor!r}"
            )
        for name in (
            "max_record_bytes",
            "parquet_batch_rows",
            "parquet_batch_bytes",
            "code_binary_scan_chars",
            "max_files_per_listing",
            "max_decompression_ratio",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{SECTION}.{name} must be positive, not {value!r}")
        # Lists given in code become tuples: the code checks cache on these values, so they
        # must be hashable.
        for name, value in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)):
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> ReaderConfig:
        """A config from `stages: {read: {...}}`: field name -> value; missing keys keep
        their defaults, lists become tuples, null disables an optional rule.

        Raises ValueError naming the key for an unknown key or a value of the wrong type.
        """
        return config_from_dict(cls, mapping, SECTION)


DEFAULT_CONFIG = ReaderConfig()
