"""The WARC and WET readers on every Common Crawl fixture and on hand-made records for the
cases the fixtures lack (non-200, non-HTML, encodings, charsets, damage)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import unicodedata
import zlib

import apache_beam as beam
import pytest
import zstandard
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import (
    ReaderConfig,
    ReadInputs,
    html,
    read_file,
    reader_for,
    reasons,
    warc,
)
from transforms.readers.files import InputFile

pytest.importorskip("fastwarc", reason="the WARC reader needs FastWARC (the project's extras)")
pytest.importorskip("resiliparse", reason="HTML extraction needs Resiliparse")

CC_2020 = "commoncrawl/CC-MAIN-2020-34-sample.warc.gz"
WHIRLWIND = "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz"
WHIRLWIND_WET = "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wet.gz"
CLUEWEB = "commoncrawl/clueweb09-quirks.warc.gz"


# --- helpers -----------------------------------------------------------------------------


def read(path, config: ReaderConfig | None = None, source: str = "cc") -> list:
    path = os.fspath(path)
    file = InputFile(source, path, os.path.basename(path), os.path.getsize(path))
    return list(read_file(file, config or ReaderConfig()))


def split(records):
    """(documents, rejected, dead letters); fails on anything else."""
    docs = [r for r in records if isinstance(r, Document)]
    rejected = [r for r in records if isinstance(r, Rejected)]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert len(docs) + len(rejected) + len(dead) == len(records)
    return docs, rejected, dead


def split_warc(plain: bytes) -> list[tuple[int, dict, bytes]]:
    """(offset, WARC headers, block) of each record of an intact, uncompressed WARC, framed
    by Content-Length alone: an oracle that shares no code with the reader."""
    records, pos = [], 0
    while pos < len(plain):
        assert plain.startswith(b"WARC/", pos), f"no record at {pos}"
        end = plain.index(b"\r\n\r\n", pos)
        lines = plain[pos:end].decode("utf-8").split("\r\n")[1:]
        headers = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        block_start = end + 4
        block = plain[block_start : block_start + int(headers["Content-Length"])]
        records.append((pos, headers, block))
        pos = block_start + len(block)
        while plain[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1
    return records


def b32_sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def http_block(
    body: bytes,
    status: str = "200 OK",
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html; charset=utf-8"),),
    eol: bytes = b"\r\n",
) -> bytes:
    """An HTTP response message (headers and body) as a WARC response block holds it."""
    head = [f"HTTP/1.1 {status}".encode()] + [f"{k}: {v}".encode() for k, v in headers]
    return eol.join(head) + eol + eol + body


def warc_record(
    block: bytes,
    *,
    record_id: str,
    record_type: str = "response",
    url: str = "http://example.com/",
    content_type: str | None = None,
    digest: bool = True,
    version: str = "WARC/1.0",
) -> bytes:
    if content_type is None:
        content_type = {
            "response": "application/http; msgtype=response",
            "request": "application/http; msgtype=request",
            "conversion": "text/plain",
        }.get(record_type, "application/warc-fields")
    headers = [
        ("WARC-Type", record_type),
        ("WARC-Record-ID", f"<urn:uuid:{record_id}>"),
        ("WARC-Date", "2024-05-18T01:58:10Z"),
        ("WARC-Target-URI", url),
        ("Content-Type", content_type),
    ]
    if digest:
        headers.append(("WARC-Block-Digest", b32_sha1(block)))
    headers.append(("Content-Length", str(len(block))))
    head = "\r\n".join([version] + [f"{k}: {v}" for k, v in headers])
    return head.encode() + b"\r\n\r\n" + block + b"\r\n\r\n"


def page(text: str) -> bytes:
    return (
        "<html><head><title>t</title></head><body><article><h1>A heading</h1>"
        f"<p>{text}</p></article></body></html>"
    ).encode()


def write_warc(path, records: list[bytes], gzip_members: bool = True) -> str:
    """A WARC file; gzipped like Common Crawl (one member per record) when asked."""
    data = b"".join(gzip.compress(r, mtime=0) if gzip_members else r for r in records)
    path.write_bytes(data)
    return os.fspath(path)


def response(body: bytes, record_id: str, **http) -> bytes:
    return warc_record(http_block(body, **http), record_id=record_id)


def script_share(text: str, script: str) -> float:
    """Share of the letters of `text` whose Unicode name contains `script`."""
    letters = [c for c in text if c.isalpha()]
    return sum(script in unicodedata.name(c, "") for c in letters) / max(1, len(letters))


# --- real data: every Common Crawl fixture ------------------------------------------------


def test_cc_2020_sample_has_16_html_pages_among_50_records(fixtures):
    path = fixtures / CC_2020
    kinds = [h["WARC-Type"] for _, h, _ in split_warc(gzip.decompress(path.read_bytes()))]
    assert (len(kinds), kinds.count("response"), kinds.count("request")) == (50, 16, 17)
    assert (kinds.count("metadata"), kinds.count("warcinfo")) == (16, 1)

    docs, rejected, dead = split(read(path))
    # Only the 16 responses (all HTTP 200 text/html) become documents; warcinfo, request
    # and metadata records are not documents, and nothing is damaged.
    assert (len(docs), rejected, dead) == (16, [], [])
    first = docs[0]
    assert first.id == "<urn:uuid:c4c112a5-3503-4483-abf8-51a0dd86dd53>"
    assert first.url == "http://003338.cn/l41/481397.html"
    assert first.timestamp == "2020-08-08T17:27:41Z"
    assert (first.source, first.source_file) == ("cc", os.fspath(path))
    assert {d.content_type for d in docs} == {"text/html"}
    assert len({d.id for d in docs}) == 16
    assert all(d.timestamp.startswith("2020-08-08T") for d in docs)
    assert docs[-1].url == "http://096355.com/video/11073.html?11073-0-2"


def test_cc_2020_sample_text_is_mostly_chinese_and_every_charset_decodes(fixtures):
    docs, _, _ = split(read(fixtures / CC_2020))
    by_host = {d.url.split("/")[2]: d.text for d in docs}
    chinese = [d for d in docs if script_share(d.text, "CJK UNIFIED IDEOGRAPH") > 0.6]
    assert len(chinese) >= 10  # mostly Chinese spam pages, per SOURCES.md
    # GBK declared in <meta> only (no HTTP charset): Chinese, no mojibake.
    assert "耐磨板特价销售" in by_host["041696.com"]
    # No charset declared anywhere: detected as windows-1251.
    assert "Стратегия пожарной безопасности" in by_host["01spb.ru"]
    assert script_share(by_host["01spb.ru"], "CYRILLIC") > 0.8
    # ISO-8859-1 in <meta> (read as windows-1252, as browsers do): the umlaut survives.
    assert "Kategorie-Übersicht" in by_host["06.live-radsport.ch"]
    assert "Hovenier in Oosterbeek" in by_host["0900-hovenier.nl"]
    # Decoding never fell back to replacement characters, except one that the page itself
    # contains as bytes EF BF BD.
    assert sum(d.text.count("\ufffd") for d in docs) == by_host["0615235.com"].count("\ufffd")


def test_main_content_removes_boilerplate(fixtures):
    main = {d.id: d.text for d in split(read(fixtures / CC_2020))[0]}
    full = {
        d.id: d.text for d in split(read(fixtures / CC_2020, ReaderConfig(main_content=False)))[0]
    }
    assert main.keys() == full.keys()
    assert all(len(main[i]) <= len(full[i]) for i in main)
    assert sum(map(len, main.values())) < 0.5 * sum(map(len, full.values()))
    radsport = "<urn:uuid:7323c152-4ff3-4722-abab-0c34486605bc>"  # a cycling statistics page
    for boilerplate in ("Passwort", "GOOGLE-SUCHE", "Neu hier?"):  # login box, side bar
        assert boilerplate in full[radsport] and boilerplate not in main[radsport]
    assert "Bisherige Teams" in main[radsport]


def test_whirlwind_warc_is_one_aragonese_wikipedia_page(fixtures):
    (doc,), rejected, dead = split(read(fixtures / WHIRLWIND))
    assert (rejected, dead) == ([], [])
    assert doc.id == "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete"
    assert (doc.timestamp, doc.content_type) == ("2024-05-18T01:58:10Z", "text/html")
    # Aragonese (Spanish would say "está en proceso de cambio hacia la ortografía").
    assert "Iste articlo ye en proceso de cambio enta la ortografía oficial" in doc.text
    assert doc.text.startswith("Escopete\n")
    (full,), _, _ = split(read(fixtures / WHIRLWIND, ReaderConfig(main_content=False)))
    for menu in ("Ir al contenido", "Menú principal", "Donativos"):
        assert menu in full.text and menu not in doc.text


def test_whirlwind_wet_conversion_record_is_a_document(fixtures):
    (doc,), rejected, dead = split(read(fixtures / WHIRLWIND_WET))
    assert (rejected, dead) == ([], [])
    assert doc.id == "<urn:uuid:ba729a40-ff84-4085-8d48-0a5b2ee0c42d>"
    assert doc.url == "https://an.wikipedia.org/wiki/Escopete"
    assert (doc.timestamp, doc.content_type) == ("2024-05-18T01:58:10Z", "text/plain")
    assert doc.text.startswith("Escopete - Biquipedia, a enciclopedia libre\n")
    assert "Iste articlo ye en proceso de cambio" in doc.text
    # WET text is Common Crawl's own extraction: the menus are still in it.
    assert "Menú principal" in doc.text


def test_clueweb09_quirks_file_holds_no_damaged_record(fixtures):
    """What the file really contains, checked on its bytes: 30 records (1 warcinfo, 29 HTTP
    200 EUC-JP pages) whose framing and block digests are all correct. Its quirks are of
    form, not damage, so none of them may cost a record:
      - WARC/0.18, and WARC-Date `2008-10-294T05:21:46-0700` (not a valid date);
      - a warcinfo block and HTTP headers with LF-only line ends;
      - `Content-Encoding: gzip` on bodies that are not gzipped;
      - an HTTP Content-Length 2 bytes short of the body;
      - WARC-Payload-Digest equal to the block digest (so wrong for the payload: the
        reader checks block digests only);
      - an empty WARC-Identified-Payload-Type and a WARC-Warcinfo-ID without <>.
    """
    records = split_warc(gzip.decompress((fixtures / CLUEWEB).read_bytes()))
    assert [h["WARC-Type"] for _, h, _ in records] == ["warcinfo"] + ["response"] * 29
    assert {h["WARC-Date"] for _, h, _ in records} == {"2008-10-294T05:21:46-0700"}
    assert all(b32_sha1(block) == h["WARC-Block-Digest"] for _, h, block in records[1:])
    for _, headers, block in records[1:]:
        http_head, _, body = block.partition(b"\n\n")
        assert b"\r" not in http_head and http_head.startswith(b"HTTP/1.1 200 OK\n")
        assert b"Content-Encoding: gzip" in http_head and not body.startswith(b"\x1f\x8b")
        assert b"charset=EUC-JP" in http_head
        assert b32_sha1(body) != headers["WARC-Payload-Digest"]
        assert headers["WARC-Identified-Payload-Type"] == ""
    assert b"\r" not in records[0][2].rstrip(b"\r\n")


def test_clueweb09_quirks_are_read_as_29_japanese_pages(fixtures):
    docs, rejected, dead = split(read(fixtures / CLUEWEB))
    # Nothing is damaged (see the test above), so nothing is dead-lettered or dropped.
    assert (len(docs), rejected, dead) == (29, [], [])
    first = docs[0]
    assert first.id == "<urn:uuid:8789ea4e-e914-4ec6-8b7a-ecdd45d340a7>"
    assert first.url == "http://www.uraharajuku.st/shopdetail/001005000005/019/000/order/"
    assert first.timestamp == "2008-10-294T05:21:46-0700"  # kept as written, not invented
    assert {d.content_type for d in docs} == {"text/html"}
    for doc in docs:  # EUC-JP decoded: Japanese, no replacement characters
        assert "吉田カバン" in doc.text and "\ufffd" not in doc.text
        assert script_share(doc.text, "KATAKANA") + script_share(doc.text, "CJK") > 0.5


def test_trafilatura_is_the_configurable_alternative(fixtures):
    pytest.importorskip("trafilatura", reason="the trafilatura extractor is an optional extra")
    config = ReaderConfig(extractor="trafilatura")
    (doc,), _, dead = split(read(fixtures / WHIRLWIND, config))
    assert dead == [] and "ye en proceso de cambio enta la ortografía" in doc.text
    assert "Menú principal" not in doc.text
    docs, rejected, dead = split(read(fixtures / CC_2020, config))
    assert dead == [] and len(docs) + len(rejected) == 16
    assert len(docs) >= 12  # Trafilatura finds nothing on a few spam pages
    assert {r.reason for r in rejected} <= {reasons.EMPTY_EXTRACTION}
    docs, _, dead = split(read(fixtures / CLUEWEB, config))
    assert dead == [] and len(docs) >= 25
    assert all("\ufffd" not in d.text for d in docs)
    assert sum(script_share(d.text, "CJK") + script_share(d.text, "KATAKANA") > 0.3 for d in docs)


def test_wet_and_warc_suffixes_pick_their_readers():
    assert reader_for("s3://b/x.warc.wet.gz") is warc.read_wet
    assert reader_for("x.warc.gz") is warc.read_warc
    assert reader_for("x.WARC") is warc.read_warc


def test_read_inputs_transform_reads_warc_and_wet(fixtures):
    pattern = str(fixtures / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc*")
    with TestPipeline() as p:
        records = p | ReadInputs([("cc", pattern)])
        summary = records | beam.Map(lambda r: (type(r).__name__, r.id, r.content_type))
        assert_that(
            summary,
            equal_to(
                [
                    ("Document", "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>", "text/html"),
                    ("Document", "<urn:uuid:ba729a40-ff84-4085-8d48-0a5b2ee0c42d>", "text/plain"),
                ]
            ),
        )


# --- records the fixtures lack ------------------------------------------------------------


def test_only_http_200_html_responses_become_documents(tmp_path):
    html = page("A real paragraph of text about gardening in Oosterbeek.")
    records = [
        warc_record(b"software: test\r\n", record_id="info", record_type="warcinfo"),
        warc_record(b"GET / HTTP/1.1\r\n\r\n", record_id="req", record_type="request"),
        response(html, "ok"),
        response(html, "missing", status="404 Not Found"),
        response(html, "moved", status="301 Moved Permanently"),
        response(b"\x89PNG\r\n\x1a\n", "png", headers=(("Content-Type", "image/png"),)),
        response(b"%PDF-1.4", "pdf", headers=(("Content-Type", "application/pdf"),)),
        response(b"<html></html>", "empty"),
        response(b"<html><script>var a = 1;</script></html>", "script-only"),
        warc_record(b"via: x\r\n", record_id="meta", record_type="metadata"),
        warc_record(html, record_id="res", record_type="resource", content_type="text/html"),
    ]
    docs, rejected, dead = split(read(write_warc(tmp_path / "a.warc.gz", records)))
    assert dead == []
    assert [d.id for d in docs] == ["<urn:uuid:ok>"]
    assert docs[0].text.startswith("A heading\n") and "Oosterbeek" in docs[0].text
    assert [(r.doc.id, r.stage, r.reason, r.doc.content_type) for r in rejected] == [
        ("<urn:uuid:missing>", "read", reasons.HTTP_STATUS, "text/html"),
        ("<urn:uuid:moved>", "read", reasons.HTTP_STATUS, "text/html"),
        ("<urn:uuid:png>", "read", reasons.NOT_HTML, "image/png"),
        ("<urn:uuid:pdf>", "read", reasons.NOT_HTML, "application/pdf"),
        ("<urn:uuid:empty>", "read", reasons.EMPTY_EXTRACTION, "text/html"),
        ("<urn:uuid:script-only>", "read", reasons.EMPTY_EXTRACTION, "text/html"),
    ]
    assert all(r.doc.url == "http://example.com/" and r.doc.timestamp for r in rejected)


def test_a_file_written_by_warcio_is_read(tmp_path):
    warcio = pytest.importorskip("warcio", reason="warcio writes the reference file")
    from warcio.statusandheaders import StatusAndHeaders

    path = tmp_path / "warcio.warc.gz"
    with open(path, "wb") as out:
        writer = warcio.WARCWriter(out, gzip=True)
        for status, ctype, body in [
            ("200 OK", "text/html; charset=utf-8", page("Grüße aus Zürich, schöne Grüße.")),
            ("404 Not Found", "text/html", page("gone")),
            ("200 OK", "image/png", b"\x89PNG\r\n\x1a\n"),
        ]:
            http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                "http://example.org/", "response", payload=io.BytesIO(body), http_headers=http
            )
            writer.write_record(record)
    docs, rejected, dead = split(read(path))
    assert dead == [] and "Grüße aus Zürich" in docs[0].text
    assert [r.reason for r in rejected] == [reasons.HTTP_STATUS, reasons.NOT_HTML]


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("gzip", lambda b: gzip.compress(b, mtime=0)),
        ("x-gzip", lambda b: gzip.compress(b, mtime=0)),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as many servers send
    ],
)
def test_content_encoded_body_is_decoded(tmp_path, encoding, encode):
    html = page("Compressed bodies are decoded before the charset is looked at: déjà vu.")
    headers = (("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", encoding))
    path = write_warc(tmp_path / "a.warc", [response(encode(html), "z", headers=headers)], False)
    (doc,), _, _ = split(read(path))
    assert "déjà vu" in doc.text


def test_chunked_transfer_encoding_is_undone(tmp_path):
    html = page("Sent in chunks.")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (html[:20], html[20:])) + b"0\r\n\r\n"
    headers = (("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"))
    path = write_warc(tmp_path / "a.warc.gz", [response(chunked, "c", headers=headers)])
    (doc,), _, _ = split(read(path))
    assert doc.text == "A heading\n\nSent in chunks."


def test_corrupt_gzip_body_is_a_decode_error(tmp_path):
    body = gzip.compress(page("x" * 500), mtime=0)[:12] + b"\xff" * 50
    headers = (("Content-Type", "text/html"), ("Content-Encoding", "gzip"))
    records = [response(body, "bad", headers=headers), response(page("fine"), "good")]
    docs, rejected, dead = split(read(write_warc(tmp_path / "a.warc.gz", records)))
    assert dead == [] and [d.id for d in docs] == ["<urn:uuid:good>"]
    assert [(r.doc.id, r.reason) for r in rejected] == [("<urn:uuid:bad>", reasons.DECODE_ERROR)]


def test_charset_declared_only_in_meta(tmp_path):
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
        "</head><body><p>東京は日本の首都です。多くの人が住んでいます。</p></body></html>"
    ).encode("shift_jis")
    path = write_warc(
        tmp_path / "a.warc.gz", [response(html, "m", headers=(("Content-Type", "text/html"),))]
    )
    (doc,), _, _ = split(read(path))
    assert doc.text == "東京は日本の首都です。多くの人が住んでいます。"


@pytest.mark.parametrize(
    "text, codec",
    [
        ("Café crème brûlée – a naïve façade, “quoted” text; Señor Muñoz paid €5.", "cp1252"),
        ("日本語のテキストです。東京は日本の首都であり、多くの人が住んでいます。", "shift_jis"),
        ("Привет, мир! Это пример текста на русском языке для проверки кодировки.", "cp1251"),
    ],
)
def test_undeclared_charset_is_detected(tmp_path, text, codec):
    html = f"<html><body><p>{text}</p></body></html>".encode(codec)
    path = write_warc(
        tmp_path / "a.warc.gz", [response(html, "u", headers=(("Content-Type", "text/html"),))]
    )
    (doc,), _, _ = split(read(path))
    assert doc.text == text


def test_declared_header_charset_beats_meta(tmp_path):
    text = "Привет, мир! Это пример текста на русском языке."
    html = f'<html><head><meta charset="iso-8859-1"></head><body><p>{text}</p></body></html>'
    headers = (("Content-Type", "text/html; charset=windows-1251"),)
    path = write_warc(
        tmp_path / "a.warc.gz", [response(html.encode("cp1251"), "h", headers=headers)]
    )
    (doc,), _, _ = split(read(path))
    assert doc.text == text


def test_utf8_body_declared_as_latin1_is_read_as_utf8(tmp_path):
    text = "Crème brûlée and Grüße: the server says ISO-8859-1 but sends UTF-8."
    headers = (("Content-Type", "text/html; charset=ISO-8859-1"),)
    path = write_warc(tmp_path / "a.warc.gz", [response(page(text), "x", headers=headers)])
    (doc,), _, _ = split(read(path))
    assert text in doc.text  # not "CrÃ¨me brÃ»lÃ©e"


def test_lf_only_http_headers_are_read(tmp_path):
    block = http_block(page("Line ends of one LF."), eol=b"\n")
    path = write_warc(tmp_path / "a.warc.gz", [warc_record(block, record_id="lf")])
    (doc,), _, _ = split(read(path))
    assert "Line ends of one LF." in doc.text


def test_record_over_max_record_bytes_is_too_large(tmp_path):
    big = response(page("word " * 2000), "big")
    records = [big, response(page("small"), "small")]
    docs, rejected, dead = split(
        read(write_warc(tmp_path / "a.warc.gz", records), ReaderConfig(max_record_bytes=5000))
    )
    assert dead == [] and [d.id for d in docs] == ["<urn:uuid:small>"]
    assert [(r.doc.id, r.reason) for r in rejected] == [("<urn:uuid:big>", reasons.TOO_LARGE)]


def test_digest_mismatch_is_dead_lettered_with_file_record_and_offset(tmp_path):
    good = response(page("first"), "one")
    bad = response(page("second"), "two").replace(b"second", b"sEcond")
    records = [good, bad, response(page("third"), "three")]
    path = write_warc(tmp_path / "a.warc", records, gzip_members=False)
    docs, rejected, dead = split(read(path))
    assert [d.id for d in docs] == ["<urn:uuid:one>", "<urn:uuid:three>"] and rejected == []
    (letter,) = dead
    assert (letter.source, letter.source_file, letter.line) == ("cc", path, 2)
    assert letter.offset == len(good) and "Block-Digest mismatch" in letter.error
    # With digests not checked, the damaged page is read.
    docs, _, dead = split(read(path, ReaderConfig(verify_digests=False)))
    assert dead == [] and "sEcond" in docs[1].text


def test_hex_and_lower_case_digests_are_verified(tmp_path):
    block = http_block(page("digests"))
    record = warc_record(block, record_id="d")
    b32 = b32_sha1(block).encode()
    hexed = record.replace(b32, b"sha1:" + hashlib.sha1(block).hexdigest().encode())
    lower = record.replace(b32, b32.lower())
    sha256 = record.replace(b32, b"sha256:" + hashlib.sha256(block).hexdigest().encode())
    for variant in (hexed, lower, sha256):
        assert variant != record
        (doc,), _, dead = split(read(write_warc(tmp_path / "a.warc", [variant], False)))
        assert dead == [] and doc.id == "<urn:uuid:d>"


def test_wet_records(tmp_path):
    records = [
        warc_record(b"software: test\r\n", record_id="info", record_type="warcinfo"),
        warc_record("Texto en aragonés.\n".encode(), record_id="t", record_type="conversion"),
        warc_record(b"  \n", record_id="blank", record_type="conversion"),
        warc_record(b"caf\xe9\n", record_id="latin1", record_type="conversion"),
    ]
    docs, rejected, dead = split(read(write_warc(tmp_path / "a.warc.wet.gz", records)))
    assert dead == []
    assert [(d.id, d.text, d.content_type) for d in docs] == [
        ("<urn:uuid:t>", "Texto en aragonés.", "text/plain")
    ]
    assert [(r.doc.id, r.reason) for r in rejected] == [
        ("<urn:uuid:blank>", reasons.EMPTY_EXTRACTION),
        ("<urn:uuid:latin1>", reasons.DECODE_ERROR),
    ]


def test_record_without_id_gets_a_stable_one(tmp_path):
    record = response(page("no id"), "x").replace(b"WARC-Record-ID: <urn:uuid:x>\r\n", b"")
    path = write_warc(tmp_path / "a.warc.gz", [response(page("one"), "1"), record])
    docs, _, _ = split(read(path, source="web"))
    assert [d.id for d in docs] == ["<urn:uuid:1>", "web:a.warc.gz:2"]


# --- damage -------------------------------------------------------------------------------


def _three():
    return [response(page(f"page {i}"), str(i)) for i in range(3)]


def test_truncated_file_dead_letters_the_cut_record(tmp_path):
    records = _three()
    plain = b"".join(records)
    for gzipped in (False, True):
        path = write_warc(tmp_path / "a.warc.gz", records, gzip_members=gzipped)
        data = open(path, "rb").read()
        cut = len(data) - 60
        open(path, "wb").write(data[:cut])
        docs, _, dead = split(read(path))
        assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:1>"]
        (letter,) = dead
        assert letter.line == 3 and letter.offset == plain.index(b"WARC/", 2 * len(records[0]))
        assert "record cut short" in letter.error


def test_garbage_between_records_is_reported_where_it_starts(tmp_path):
    a, b, c = _three()
    path = write_warc(tmp_path / "a.warc", [a, b"GARBAGE\r\n", b, c], gzip_members=False)
    docs, _, dead = split(read(path))
    assert len(docs) == 3
    (letter,) = dead
    assert (letter.line, letter.offset, letter.snippet) == (2, len(a), "GARBAGE\r\n")


def test_record_whose_first_line_is_damaged_is_not_lost_silently(tmp_path):
    a, b, c = _three()
    path = write_warc(tmp_path / "a.warc", [a, b"xx" + b, c], gzip_members=False)
    docs, _, dead = split(read(path))
    # FastWARC skips `xxWARC/1.0 ...` up to the next record; the gap is dead-lettered.
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:2>"]
    (letter,) = dead
    assert letter.offset == len(a) and letter.snippet.startswith("xxWARC/1.0")


def test_wrong_content_length_of_a_skipped_record_is_blamed_on_that_record(tmp_path):
    request = warc_record(b"GET / HTTP/1.1\r\n\r\n", record_id="req", record_type="request")
    # 12 bytes too many: the request swallows its own trailer and the next `WARC/1.0`.
    request = request.replace(b"Content-Length: 18", b"Content-Length: 30")
    records = [request, response(page("swallowed"), "swallowed"), response(page("kept"), "kept")]
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc", records, gzip_members=False)))
    # The record whose first line the request swallowed is found and read all the same.
    assert [d.id for d in docs] == ["<urn:uuid:swallowed>", "<urn:uuid:kept>"]
    (letter,) = dead
    assert (letter.line, letter.offset) == (1, 0) and "Content-Length 30 is wrong" in letter.error
    assert f"runs into a WARC record at offset {len(request)}," in letter.error
    assert letter.snippet.startswith("WARC/1.0\r\nWARC-Type: response")


def test_unknown_or_missing_warc_type_is_dead_lettered(tmp_path):
    a, b, c = _three()
    b = b.replace(b"WARC-Type: response", b"WARC-Type: rasponse")
    c = c.replace(b"WARC-Type: response\r\n", b"")
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc.gz", [a, b, c])))
    assert [d.id for d in docs] == ["<urn:uuid:0>"]
    assert [(d.line, d.error) for d in dead] == [
        (2, "not a WARC record type: WARC-Type 'rasponse'"),
        (3, "not a WARC record type: WARC-Type None"),
    ]


def test_corrupt_gzip_member_costs_one_record(tmp_path):
    records = _three()
    members = [gzip.compress(r, mtime=0) for r in records]
    broken = bytearray(members[1])
    broken[len(broken) // 2] ^= 0xFF
    path = tmp_path / "a.warc.gz"
    path.write_bytes(members[0] + bytes(broken) + members[2])
    docs, _, dead = split(read(path))
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:2>"]
    (letter,) = dead
    assert letter.line == 2 and letter.offset == len(records[0])
    assert "gzip" in letter.error and "resumed at the next intact record" in letter.error


def test_garbage_prepended_to_a_gzip_file_is_skipped(tmp_path):
    path = write_warc(tmp_path / "a.warc.gz", _three())
    data = open(path, "rb").read()
    open(path, "wb").write(b"junk that is not gzip" + data)
    docs, _, dead = split(read(path))
    assert len(docs) == 3
    (letter,) = dead
    assert letter.offset == 0 and "not a gzip stream" in letter.error


@pytest.mark.parametrize(
    "name, compress",
    [
        ("plain-named.warc.gz", lambda d: d),
        ("gzip-named.warc", lambda d: gzip.compress(d, mtime=0)),
        ("zstd-named.warc.gz", zstandard.compress),
        ("zstd.warc.zst", zstandard.compress),
    ],
)
def test_compression_is_recognised_from_the_bytes_not_the_name(tmp_path, name, compress):
    path = tmp_path / name
    path.write_bytes(compress(b"".join(_three())))
    docs, _, dead = split(read(path))
    assert dead == [] and len(docs) == 3


def test_file_with_no_warc_record(tmp_path):
    path = tmp_path / "a.warc"
    path.write_bytes(b"<html>not a WARC file</html>\n")
    docs, _, dead = split(read(path))
    assert docs == [] and dead[0].offset == 0 and "not a WARC record" in dead[0].error


def test_reading_streams_the_file(tmp_path):
    """The first document comes out long before the file is read to its end."""
    words = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(4000)]  # incompressible
    records = [response(page(" ".join(words[i : i + 40])), str(i)) for i in range(2000)]
    path = write_warc(tmp_path / "big.warc.gz", records)
    size = os.path.getsize(path)
    file = InputFile("cc", path, "big.warc.gz", size)
    with open(path, "rb") as handle:
        documents = warc.read_warc(file, handle)
        first = next(documents)
        assert first.id == "<urn:uuid:0>" and handle.tell() < size / 4
        assert sum(1 for _ in documents) == 1999


def test_warc_without_pages_is_not_a_dead_letter(tmp_path):
    """Only a request and a metadata record: nothing to read, nothing wrong."""
    request = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    records = [
        warc_record(request, record_id="q", record_type="request"),
        warc_record(b"fetchTimeMs: 12\r\n", record_id="m", record_type="metadata"),
    ]
    assert read(write_warc(tmp_path / "a.warc.gz", records)) == []


# --- wrong Content-Length: the record is named, the records it swallowed are read ---------


def _five(digest: bool):
    records = [response(page(f"page {i} " * 30), str(i)) for i in range(5)]
    if not digest:
        records = [re.sub(rb"WARC-Block-Digest: [^\r]*\r\n", b"", r) for r in records]
    return records


def _with_length(record: bytes, delta: int) -> bytes:
    length = int(re.search(rb"Content-Length: (\d+)", record)[1])
    return record.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta))


# How much the second record's Content-Length is off, given the records.
WRONG_LENGTHS = {
    "swallows one record": lambda r: len(r[2]) + 50,
    "swallows two records": lambda r: len(r[2]) + len(r[3]) + 50,
    "swallows exactly one record": lambda r: len(r[2]),
    "runs past the end": lambda r: 1_000_000,
    "runs past the end and max_record_bytes": lambda r: 10**12,
    "too small by 100": lambda r: -100,
    "too small by 5": lambda r: -5,
}


@pytest.mark.parametrize("gzip_members", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("digest", [True, False], ids=["digest", "no-digest"])
@pytest.mark.parametrize("wrong", WRONG_LENGTHS)
def test_wrong_content_length_costs_only_its_record(tmp_path, wrong, digest, gzip_members):
    records = _five(digest)
    records[1] = _with_length(records[1], WRONG_LENGTHS[wrong](records))
    path = write_warc(tmp_path / "a.warc.gz", records, gzip_members=gzip_members)
    docs, rejected, dead = split(read(path, ReaderConfig(max_record_bytes=1 << 21)))
    # Every record after the damaged one is read, and the damaged one is named once.
    assert [d.id for d in docs] == [f"<urn:uuid:{i}>" for i in (0, 2, 3, 4)] and rejected == []
    (letter,) = dead
    assert (letter.line, letter.offset) == (2, len(records[0]))
    assert letter.error.startswith("Content-Length") and "is wrong" in letter.error
    if WRONG_LENGTHS[wrong](records) > 0:
        assert f"WARC record at offset {len(records[0]) + len(records[1])}," in letter.error


def test_a_wrong_length_in_a_wet_file_is_found_the_same_way(tmp_path):
    records = [
        warc_record(f"text {i}\n".encode() * 50, record_id=str(i), record_type="conversion")
        for i in range(3)
    ]
    records[0] = _with_length(records[0], len(records[1]) + 10)
    docs, _, (letter,) = split(read(write_warc(tmp_path / "a.warc.wet.gz", records)))
    assert [d.id for d in docs] == ["<urn:uuid:1>", "<urn:uuid:2>"]
    assert (letter.line, letter.offset) == (1, 0) and "Content-Length" in letter.error


def test_a_block_holding_a_warc_record_is_trusted_when_its_digest_matches(tmp_path):
    inner = warc_record(b"archived text\r\n", record_id="inner", record_type="resource")
    body = page("a page that quotes a WARC file") + b"\r\n\r\n" + inner
    records = [response(body, "outer", headers=(("Content-Type", "text/html"),)), *_three()]
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc", records, gzip_members=False)))
    assert dead == [] and [d.id for d in docs][:2] == ["<urn:uuid:outer>", "<urn:uuid:0>"]


def test_junk_after_a_record_whose_digest_matches_is_not_blamed_on_it(tmp_path):
    a, b, c = _three()
    # a's trailer overwritten: a itself is intact, the junk is dead-lettered where it is.
    damaged = a[:-4] + b"JUNK\r\n" + b
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc", [damaged, c], False)))
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:1>", "<urn:uuid:2>"]
    (letter,) = dead
    assert (letter.line, letter.offset, letter.snippet) == (2, len(a) - 4, "JUNK\r\n")
    # Junk that also damages the next record's first line costs that record, named there.
    damaged = a[:-4] + b"JUNK" + b
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc", [damaged, c], False)))
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:2>"]
    (letter,) = dead
    assert (letter.line, letter.offset) == (2, len(a) - 4)
    assert letter.snippet.startswith("JUNKWARC/1.0")


def test_a_block_too_large_to_keep_is_searched_for_the_records_it_swallowed(tmp_path):
    big = response(page("word " * 200_000), "big")  # 1 MB: over the limit, never kept
    records = [_with_length(big, 10**9), *_three()]
    path = write_warc(tmp_path / "a.warc.gz", records)
    docs, rejected, (letter,) = split(read(path, ReaderConfig(max_record_bytes=1 << 16)))
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:1>", "<urn:uuid:2>"]
    assert rejected == [] and (letter.line, letter.offset) == (1, 0)
    assert f"runs into a WARC record at offset {len(records[0])}, where" in letter.error
    assert "cut short" not in letter.error  # running to the end is the wrong length's doing


def test_a_document_with_a_lone_surrogate_is_a_dead_letter_at_its_record(tmp_path, monkeypatch):
    real = html.extract_text
    monkeypatch.setattr(
        html, "extract_text", lambda page, config, url=None: real(page, config, url) + "\ud800"
    )
    records = _three()
    docs, _, dead = split(read(write_warc(tmp_path / "a.warc.gz", records)))
    assert docs == [] and [(d.line, d.offset) for d in dead] == [
        (1, 0),
        (2, len(records[0])),
        (3, len(records[0]) + len(records[1])),
    ]
    assert all("'text' cannot be encoded as UTF-8" in d.error for d in dead)


def test_a_stream_that_ends_in_damage_says_how_much_was_left_unread(tmp_path):
    words = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(16000)]  # incompressible
    records = [response(page(" ".join(words[i * 400 : i * 400 + 400])), str(i)) for i in range(40)]
    blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(records)))
    blob[len(blob) // 2] ^= 0xFF  # the frame's data: decoding cannot go on after it
    path = tmp_path / "a.warc.zst"
    path.write_bytes(bytes(blob))
    docs, _, dead = split(read(path))
    assert 0 < len(docs) < 40
    letter = dead[-1]
    left = int(re.search(r"(\d+) of its (\d+) compressed bytes left unread", letter.error)[1])
    assert 0 < left < len(blob) and "decompressed bytes were read" in letter.error
    # A truncated gzip file: nothing was left unread, the data just ends.
    path = write_warc(tmp_path / "b.warc.gz", records[:3])
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-30])
    *_, letter = read(path)
    assert f"0 of its {len(data) - 30} compressed bytes left unread" in letter.error


def test_a_wet_record_over_max_record_bytes_is_too_large(tmp_path):
    records = [
        warc_record(b"short text\n", record_id="s", record_type="conversion"),
        warc_record(b"long text\n" * 1000, record_id="l", record_type="conversion"),
    ]
    path = write_warc(tmp_path / "a.warc.wet.gz", records)
    docs, rejected, dead = split(read(path, ReaderConfig(max_record_bytes=1000)))
    assert dead == [] and [d.id for d in docs] == ["<urn:uuid:s>"]
    assert [(r.doc.id, r.reason) for r in rejected] == [("<urn:uuid:l>", reasons.TOO_LARGE)]


def test_any_error_while_turning_a_record_into_a_document_costs_only_that_record(
    tmp_path, monkeypatch
):
    real = warc._block_digest
    calls = []

    def flaky(record):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("digest bug")
        return real(record)

    monkeypatch.setattr(warc, "_block_digest", flaky)
    records = _three()
    docs, _, (letter,) = split(read(write_warc(tmp_path / "a.warc.gz", records)))
    assert [d.id for d in docs] == ["<urn:uuid:0>", "<urn:uuid:2>"]
    assert (letter.line, letter.offset) == (2, len(records[0]))
    assert "RuntimeError('digest bug')" in letter.error
