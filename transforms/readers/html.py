"""HTML payload -> text: undo HTTP encodings, find the charset, extract the main text.

Beam-free. `undo_http_encodings` and `decode_html` turn the bytes of an HTTP response body
into a string (raising `DecodeFailed` for a body that cannot be decoded); `extract_text`
turns that HTML into plain text with Resiliparse (default) or Trafilatura.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator

from transforms.readers.config import ReaderConfig

GZIP_MAGIC = b"\x1f\x8b"
# How much of the document the HTML5 prescan looks at for a <meta> charset.
META_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (b"\xfe\xff", "utf-16"))
_CHUNK_SIZE_LINE = re.compile(rb"^[0-9a-fA-F]{1,8}[ \t]*(;[^\r\n]*)?\r?\n")


class DecodeFailed(Exception):
    """A payload whose content encoding or charset cannot be decoded."""


def undo_http_encodings(payload: bytes, headers, limit: int) -> bytes:
    """The body with chunked transfer encoding and gzip/deflate/br content encoding undone.

    Common Crawl stores bodies already decoded (and renames the headers to
    `X-Crawler-...`), and ClueWeb09 keeps `Content-Encoding: gzip` on bodies that are plain,
    so an encoding is undone only when the bytes actually look encoded. `limit` caps the
    decoded size (a decompression bomb raises DecodeFailed).
    """
    transfer = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in transfer and _CHUNK_SIZE_LINE.match(payload):
        payload = _dechunk(payload, limit)
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip") and payload.startswith(GZIP_MAGIC):
        return _inflate(payload, 31, limit)
    if encoding == "deflate" and not _looks_like_text(payload):
        # RFC 9110 means zlib-wrapped data, but many servers send raw deflate; browsers
        # accept both.
        try:
            return _inflate(payload, 15, limit)
        except DecodeFailed:
            return _inflate(payload, -15, limit)
    if encoding == "br" and not _looks_like_text(payload):
        try:
            import brotli  # lazy: optional, only for raw captures with brotli bodies
        except ImportError as err:
            raise DecodeFailed("brotli-encoded body and the brotli module is missing") from err
        decoder = brotli.Decompressor()
        try:
            try:
                out = decoder.process(payload, output_buffer_limit=limit + 1)
            except TypeError:  # brotli < 1.2 cannot bound its output
                out = decoder.process(payload)
        except brotli.error as err:
            raise DecodeFailed(f"brotli body is corrupt: {err}") from err
        if len(out) > limit:
            raise DecodeFailed(f"decoded body larger than {limit} bytes")
        return out
    return payload


def _looks_like_text(data: bytes) -> bool:
    head = data[:512].lstrip()
    return head[:1] == b"<" or head[:3] == codecs.BOM_UTF8


def _inflate(payload: bytes, wbits: int, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits=wbits)
    try:
        out = decoder.decompress(payload, limit + 1)
    except zlib.error as err:
        raise DecodeFailed(f"compressed body is corrupt: {err}") from err
    if len(out) > limit:
        raise DecodeFailed(f"decoded body larger than {limit} bytes")
    return out


def _dechunk(payload: bytes, limit: int) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(payload):
        end = payload.find(b"\n", pos)
        if end < 0:
            break
        size_field = payload[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise DecodeFailed(f"bad chunk size {size_field[:20]!r}") from None
        if size == 0:
            break
        out += payload[end + 1 : end + 1 + size]
        if len(out) > limit:
            raise DecodeFailed(f"decoded body larger than {limit} bytes")
        pos = end + 1 + size
        if payload.startswith(b"\r\n", pos):
            pos += 2
        elif payload.startswith(b"\n", pos):
            pos += 1
    return bytes(out)


def charset_candidates(body: bytes, declared: str | None) -> Iterator[str]:
    """Python codec names to try, best first, each once: BOM, UTF-8 if the body is valid
    UTF-8 with non-ASCII characters, declared header, <meta>, UTF-8, detection
    (Resiliparse's uchardet; lazy, because it costs as much as extraction and is rarely
    needed).

    Names are mapped the way browsers do (WHATWG: ISO-8859-1 means windows-1252, GB2312
    means GBK). Valid UTF-8 beats a declaration because text in another charset is
    practically never valid UTF-8 once it has non-ASCII bytes, while pages that declare
    ISO-8859-1 but send UTF-8 are common (the declaration would make mojibake of them).
    """
    from resiliparse.parse.encoding import detect_encoding  # lazy: heavy native module

    def ordered():
        for bom, name in _BOMS:
            if body.startswith(bom):
                yield name
        if not body.isascii() and _is_utf8(body):
            yield "utf-8"
        if declared:
            yield _codec(declared)
        match = _META_CHARSET.search(body, 0, META_PRESCAN_BYTES)
        if match:
            meta = _codec(match.group(1).decode("ascii", "replace"))
            # WHATWG: a <meta> that claims UTF-16 in a byte-oriented prescan means UTF-8.
            yield "utf-8" if meta and meta.startswith("utf-16") else meta
        yield "utf-8"
        yield _codec(detect_encoding(body) or "")

    seen = set()
    for name in ordered():
        if name and name not in seen:
            seen.add(name)
            yield name


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _codec(label: str) -> str | None:
    """A Python codec name for an encoding label, or None if Python has no such codec."""
    from resiliparse.parse.encoding import map_encoding_to_html5

    mapped = map_encoding_to_html5(label.strip().strip("\"'"), fallback_utf8=False)
    if not mapped:
        return None
    try:
        return codecs.lookup(mapped).name
    except LookupError:
        return None


def decode_html(body: bytes, declared: str | None, max_replacement_ratio: float) -> str:
    """The body as text: the first candidate charset that decodes it strictly wins.

    If none does, the first candidate decodes it with replacement characters, and the page
    counts as undecodable (DecodeFailed) when more than `max_replacement_ratio` of its
    characters were replaced.
    """
    candidates = []
    for name in charset_candidates(body, declared):
        candidates.append(name)
        try:
            return body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    text = body.decode(candidates[0], errors="replace")
    bad = text.count("\ufffd")
    if text and bad / len(text) > max_replacement_ratio:
        raise DecodeFailed(f"{bad} of {len(text)} characters undecodable as {'/'.join(candidates)}")
    return text


def extract_text(html: str, config: ReaderConfig, url: str | None = None) -> str:
    """Main text of an HTML page ('' if there is none), with the configured extractor."""
    if config.extractor == "trafilatura":
        import trafilatura  # lazy: optional extra

        # deduplicate=False: Trafilatura's deduplication remembers text across documents in
        # a process-wide cache, which would make the output depend on processing order.
        text = trafilatura.extract(
            html,
            url=url,
            favor_precision=True,
            include_comments=False,
            deduplicate=False,
            output_format="txt",
        )
        return (text or "").strip()
    from resiliparse.extract.html2text import extract_plain_text  # lazy: heavy native module

    text = extract_plain_text(
        html,
        main_content=config.main_content,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
    )
    return text.strip()
