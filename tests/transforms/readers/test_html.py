"""HTML payloads -> text: HTTP encodings, charset choice and the two extractors."""

from __future__ import annotations

import codecs
import gzip
import zlib

import pytest

from transforms.readers.config import ReaderConfig
from transforms.readers.html import (
    DecodeFailed,
    charset_candidates,
    decode_html,
    extract_text,
    undo_http_encodings,
)

pytest.importorskip("resiliparse", reason="charset detection and extraction need Resiliparse")

LIMIT = 1 << 20


def candidates(body: bytes, declared: str | None) -> list[str]:
    return list(charset_candidates(body, declared))


ARTICLE = (
    "<html><head><title>Shop</title></head><body>"
    "<nav><ul><li><a href='/'>Home</a></li><li><a href='/about'>About us</a></li></ul></nav>"
    "<article><h1>How to prune apple trees</h1>"
    "<p>Prune apple trees in late winter, while they are dormant. Remove dead, damaged and "
    "crossing branches first, then thin the crown so that light reaches every branch.</p>"
    "<p>Cut just above an outward-facing bud and never remove more than a quarter of the "
    "tree in one year; heavy pruning makes the tree grow water shoots instead of fruit.</p>"
    "</article>"
    "<footer><p>Copyright 2024 Example Shop. All rights reserved. Cookie settings.</p></footer>"
    "</body></html>"
)


# --- HTTP encodings -------------------------------------------------------------------------


def test_plain_body_is_returned_as_is_whatever_the_headers_say():
    body = b"<html><p>plain</p></html>"
    # ClueWeb09 keeps Content-Encoding: gzip on bodies it stored decoded.
    for encoding in ("gzip", "deflate", "br", "identity", ""):
        assert undo_http_encodings(body, {"Content-Encoding": encoding}, LIMIT) == body


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("gzip", lambda b: gzip.compress(b, mtime=0)),
        ("GZIP", lambda b: gzip.compress(b, mtime=0)),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),
    ],
)
def test_gzip_and_deflate_bodies_are_decoded(encoding, encode):
    body = ARTICLE.encode()
    assert undo_http_encodings(encode(body), {"Content-Encoding": encoding}, LIMIT) == body


def test_brotli_body_is_decoded():
    brotli = pytest.importorskip("brotli", reason="brotli bodies need the brotli module")
    body = ARTICLE.encode()
    assert undo_http_encodings(brotli.compress(body), {"Content-Encoding": "br"}, LIMIT) == body


def test_chunked_body_is_joined():
    chunked = b"5\r\n<p>ab\r\n4;ext=1\r\ncd</\r\n2\r\np>\r\n0\r\n\r\n"
    headers = {"Transfer-Encoding": "chunked"}
    assert undo_http_encodings(chunked, headers, LIMIT) == b"<p>abcd</p>"
    # Common Crawl stores bodies de-chunked but may keep the header: left as it is.
    assert undo_http_encodings(b"<p>abcd</p>", headers, LIMIT) == b"<p>abcd</p>"


def test_decompression_bomb_and_corrupt_bodies_fail_to_decode():
    bomb = gzip.compress(b"<" + b"a" * (4 * LIMIT))
    with pytest.raises(DecodeFailed, match="larger than"):
        undo_http_encodings(bomb, {"Content-Encoding": "gzip"}, LIMIT)
    with pytest.raises(DecodeFailed, match="corrupt"):
        undo_http_encodings(b"\x1f\x8b\x08\x00" + b"\xff" * 40, {"Content-Encoding": "gzip"}, LIMIT)


# --- charsets -------------------------------------------------------------------------------


def test_candidate_order_bom_utf8_declared_meta_detected():
    cyrillic = "<p>Привет, мир! Пример текста на русском языке.</p>".encode("cp1251")
    meta = b'<meta charset="koi8-r">' + cyrillic
    assert candidates(meta, "windows-1251")[:2] == ["cp1251", "koi8-r"]
    assert candidates(meta, None)[0] == "koi8-r"
    assert candidates(cyrillic, None)[-1] == "cp1251"  # detected
    # A BOM beats everything; valid UTF-8 beats a declaration.
    assert candidates(codecs.BOM_UTF8 + b"<p>x</p>", "shift_jis")[0] == "utf-8-sig"
    assert candidates("<p>Grüße</p>".encode(), "iso-8859-1")[0] == "utf-8"
    # Labels map the way browsers map them (WHATWG).
    assert candidates(b"<p>x</p>", "ISO-8859-1")[0] == "cp1252"
    assert candidates(b"<p>x</p>", "gb2312")[0] == "gbk"
    assert candidates(b"<p>x</p>", "no-such-charset")[0] == "utf-8"


@pytest.mark.parametrize(
    "codec, text",
    [
        ("euc_jp", "吉田カバン ヘッドポーター 限定品の取扱専門の通販店です。"),
        ("gbk", "中文网页内容，欢迎访问我们的网站。这里有很多有用的信息。"),
        ("cp1252", "Crème brûlée, naïve façade and “curly quotes” for €5."),
        ("utf-16", "UTF-16 with a byte order mark: Grüße, 東京."),
    ],
)
def test_decode_html_without_declaration(codec, text):
    body = f"<html><body><p>{text}</p></body></html>".encode(codec)
    assert text in decode_html(body, None, 0.01)


def test_wrong_declaration_falls_back_to_a_charset_that_decodes():
    text = "日本語のテキストです。東京は日本の首都です。"
    body = f"<p>{text}</p>".encode("shift_jis")
    assert text in decode_html(body, "utf-8", 0.01)


def test_mostly_undecodable_body_fails_and_a_few_bad_bytes_are_replaced():
    with pytest.raises(DecodeFailed, match="undecodable"):
        decode_html(b"\x81\x8d\x8f\x90\x9d" * 200, "windows-1252", 0.01)
    good = ("<p>" + "Grüße aus Zürich. " * 50 + "</p>").encode() + b"\xff"
    text = decode_html(good, "utf-8", 0.01)
    assert "Grüße aus Zürich." in text and text.count("\ufffd") == 1


# --- extraction -----------------------------------------------------------------------------


def test_resiliparse_main_content_drops_navigation_and_footer():
    main = extract_text(ARTICLE, ReaderConfig())
    full = extract_text(ARTICLE, ReaderConfig(main_content=False))
    assert main.startswith("How to prune apple trees") and "outward-facing bud" in main
    for boilerplate in ("About us", "All rights reserved"):
        assert boilerplate in full and boilerplate not in main


def test_trafilatura_extracts_the_article():
    pytest.importorskip("trafilatura", reason="the trafilatura extractor is an optional extra")
    text = extract_text(ARTICLE, ReaderConfig(extractor="trafilatura"), "https://example.com/")
    assert "Prune apple trees in late winter" in text
    assert "All rights reserved" not in text and "About us" not in text


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_page_without_text_extracts_to_nothing(extractor):
    if extractor == "trafilatura":
        pytest.importorskip("trafilatura", reason="the trafilatura extractor is optional")
    config = ReaderConfig(extractor=extractor)
    for html in ("", "<html></html>", "<html><script>var x = 1;</script><style>p{}</style></html>"):
        assert extract_text(html, config) == ""


def test_detection_runs_only_when_no_other_candidate_decodes(monkeypatch):
    import resiliparse.parse.encoding as encoding

    calls = []
    detect = encoding.detect_encoding
    monkeypatch.setattr(encoding, "detect_encoding", lambda body: calls.append(1) or detect(body))
    assert decode_html("<p>Grüße</p>".encode("cp1252"), "windows-1252", 0.01) == "<p>Grüße</p>"
    assert calls == []
    text = "<p>Привет, мир! Пример текста на русском языке.</p>"
    assert decode_html(text.encode("cp1251"), None, 0.01) == text and calls == [1]
