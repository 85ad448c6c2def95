"""The JSON lines reader on real fixtures and on every kind of bad input."""

import gzip
import io
import json
import os
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import DeadLetter, Document, Rejected
from tests.conftest import jsonl_bytes, write_input
from transforms.readers import ReaderConfig, ReadInputs, jsonl, read_file, reasons
from transforms.readers.files import InputFile, glob_root, relative_to_root


def _read(path: str, source: str = "test") -> list:
    return list(read_file(InputFile(source, path, os.path.basename(path), os.path.getsize(path))))


def _split(records):
    docs = [r for r in records if isinstance(r, Document)]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert len(docs) + len(dead) == len(records)
    return docs, dead


# --- real data -----------------------------------------------------------------------


def test_c4_sample_files(fixtures):
    for name in ("c4-sample.01.json.gz", "c4-sample.02.json.gz", "c4-sample.03.json.gz"):
        docs, dead = _split(_read(str(fixtures / "web-jsonl" / name), "c4"))
        assert (len(docs), dead) == (10, [])
        assert all(d.url.startswith("http") and d.timestamp for d in docs)
    docs, _ = _split(_read(str(fixtures / "web-jsonl" / "c4-sample.01.json.gz")))
    assert docs[0].id == "test:c4-sample.01.json.gz:1"  # no id field: file + line


def test_ccnet_dolma_files_keep_id_url_date_and_language(fixtures):
    docs, dead = _split(_read(str(fixtures / "web-jsonl" / "ccnet-cc_en_head-0091.jsonl.gz")))
    assert (len(docs), dead) == (10, [])
    assert all(d.lang == "en" and d.url == d.id and d.timestamp for d in docs)
    assert (
        docs[0].id
        == "http://100kinvesting.com/2016/11/28/first-teleconference-calls-invoice-factoring/"
    )
    assert docs[0].timestamp == "2020-03-29T09:04:10Z"
    assert {d.sub_source for d in docs} == {"common-crawl"}


def test_c4_guardian_file_keeps_its_own_ids(fixtures):
    docs, dead = _split(_read(str(fixtures / "web-jsonl" / "c4-guardian.jsonl.gz")))
    assert (len(docs), dead) == (10, [])
    assert docs[0].id == "5ec2ceb6-982c-48bc-87c4-b111592a1402"
    assert docs[0].text.startswith("Set into the back of the yielding, overstuffed seats")


def test_pile_zst_lm_dataformat_records(fixtures):
    docs, dead = _split(_read(str(fixtures / "pile" / "blns-1.jsonl.zst"), "pile"))
    assert (len(docs), dead) == (4, [])
    # lm_dataformat stores a list of paragraphs; it is joined with blank lines.
    assert docs[1].text == "testing 123\n\ntesting 345"
    assert docs[3].text == "testing 123456789"
    # The Big List of Naughty Strings survives reading byte for byte.
    assert "\u200b" in docs[0].text and "\U0001f60d" in docs[0].text


@pytest.mark.parametrize(
    "name, first_url, first_timestamp",
    [
        (
            "c4-sample.01.json.gz",
            "https://www.kentlive.news/news/sevenoaks-mum-who-died-after-2582402",
            "2019-04-21T18:54:04Z",
        ),
        (
            "c4-sample.02.json.gz",
            "http://www.hollistonreporter.com/article/14259/"
            "bocce-ball-is-alive-and-well-in-holliston.html",
            "2019-04-25T10:18:53Z",
        ),
        (
            "c4-sample.03.json.gz",
            "http://www.thelocalalameda.com/about.html",
            "2019-04-24T01:51:01Z",
        ),
        (
            "ccnet-cc_en_head-0091.jsonl.gz",
            "http://100kinvesting.com/2016/11/28/first-teleconference-calls-invoice-factoring/",
            "2020-03-29T09:04:10Z",
        ),
        (
            "ccnet-cc_en_head-0174.jsonl.gz",
            "http://archives2.getty.edu:8082/xtf/view?docId=ead/2002.M.13/2002.M.13.xml",
            "2020-06-05T04:25:29Z",
        ),
        ("c4-guardian.jsonl.gz", None, None),  # OLMo's C4 domain split keeps ids, not urls
    ],
)
def test_every_web_jsonl_fixture(fixtures, name, first_url, first_timestamp):
    docs, dead = _split(_read(str(fixtures / "web-jsonl" / name), "web"))
    assert (len(docs), dead) == (10, [])
    assert (docs[0].url, docs[0].timestamp) == (first_url, first_timestamp)
    assert all(d.text.strip() for d in docs)
    if name.startswith("ccnet"):  # CCNet as Dolma stores it: the url is the id
        assert all(d.id == d.url and d.lang == "en" for d in docs)
    elif name.startswith("c4-sample"):  # no id field: file + line
        assert [d.id for d in docs[:2]] == [f"web:{name}:1", f"web:{name}:2"]
    else:
        assert docs[0].id == "5ec2ceb6-982c-48bc-87c4-b111592a1402"
        assert {d.sub_source for d in docs} == {"c4_100_domains"}


@pytest.mark.parametrize("name", ["blns-1.jsonl.zst", "blns-2.jsonl.zst"])
def test_both_pile_fixtures(fixtures, name):
    docs, dead = _split(_read(str(fixtures / "pile" / name), "pile"))
    assert (len(docs), dead) == (4, [])
    assert [d.id for d in docs] == [f"pile:{name}:{i}" for i in range(1, 5)]
    assert "hasOwnProperty" in docs[0].text and "<script>alert(123)</script>" in docs[0].text
    # lm_dataformat's test shard has `meta` without a pile_set_name: no sub-source.
    assert {d.sub_source for d in docs} == {None}


def test_pile_set_name_becomes_the_sub_source(tmp_path):
    path = write_input(
        tmp_path / "00.jsonl.zst",
        jsonl_bytes(
            [
                {"text": "def f(): pass", "meta": {"pile_set_name": "Github"}},
                {"text": ["para 1", "para 2"], "meta": {"pile_set_name": "ArXiv"}},
                {"text": "no meta"},
            ]
        ),
    )
    docs, dead = _split(_read(path, "pile"))
    assert dead == [] and [d.sub_source for d in docs] == ["Github", "ArXiv", None]
    assert docs[1].text == "para 1\n\npara 2"


# --- bad input: each case is dead-lettered with file and position, the rest is read ----


def test_malformed_json_line(tmp_path):
    path = write_input(
        tmp_path / "a.jsonl", jsonl_bytes([{"text": "one"}, '{"text": "tw', {"text": "three"}])
    )
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == ["one", "three"]
    (bad,) = dead
    assert (bad.source_file, bad.line, bad.offset) == (path, 2, len(b'{"text": "one"}\n'))
    assert "malformed JSON" in bad.error and bad.snippet == '{"text": "tw'


def test_line_without_text_field(tmp_path):
    path = write_input(tmp_path / "a.jsonl.gz", jsonl_bytes([{"content": "x"}, {"text": "ok"}]))
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == ["ok"]
    assert dead[0].line == 1 and "no 'text' field" in dead[0].error


def test_text_that_is_not_a_string(tmp_path):
    path = write_input(tmp_path / "a.jsonl", jsonl_bytes([{"text": 42}, [1, 2], {"text": "ok"}]))
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == ["ok"]
    assert ["'text' is a int" in dead[0].error, "not an object" in dead[1].error] == [True, True]


def test_invalid_utf8_line(tmp_path):
    path = write_input(
        tmp_path / "a.jsonl.zst", jsonl_bytes([b'{"text": "caf\xe9"}', {"text": "caf\u00e9"}])
    )
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == ["caf\u00e9"]
    assert dead[0].line == 1 and "invalid UTF-8" in dead[0].error


@pytest.mark.parametrize("name", ["a.jsonl.gz", "a.jsonl.zst"])
def test_truncated_stream_keeps_lines_before_the_damage(tmp_path, name):
    records = [{"text": f"document number {i} " * 20} for i in range(2000)]
    path = write_input(tmp_path / name, jsonl_bytes(records))
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) * 2 // 3])
    docs, dead = _split(_read(path))
    (bad,) = dead
    assert "truncated" in bad.error
    assert 0 < len(docs) < len(records)
    assert bad.line == len(docs) + 1  # the first line not fully recovered
    assert [d.text for d in docs] == [r["text"] for r in records[: len(docs)]]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    docs, dead = _split(_read(str(path)))
    assert docs == [] and dead[0].error == "empty file" and dead[0].source_file == str(path)


def test_compressed_file_with_no_records(tmp_path):
    path = write_input(tmp_path / "blank.jsonl.gz", b"\n\n")
    docs, dead = _split(_read(path))
    assert docs == [] and dead[0].error == "file holds no records"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("plain-text.jsonl.gz", b'{"text": "not gzip"}\n', "not a gzip stream"),
        ("gzip-named.jsonl.zst", gzip.compress(b'{"text": "x"}\n'), "not a zstd stream"),
        ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "invalid UTF-8"),
    ],
)
def test_file_that_is_not_what_its_name_says(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    docs, dead = _split(_read(str(path)))
    assert docs == []
    assert message in dead[0].error and dead[0].offset == 0


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    _, dead = _split(_read(str(path)))
    assert "unsupported file type" in dead[0].error


def test_id_field_and_blank_lines(tmp_path):
    path = write_input(
        tmp_path / "a.jsonl",
        jsonl_bytes([{"id": "doc-7", "text": "a"}, "", {"id": 8, "text": "b"}]),
    )
    docs, dead = _split(_read(path))
    assert dead == [] and [d.id for d in docs] == ["doc-7", "8"]


# --- ids and patterns ------------------------------------------------------------------


def test_ids_use_the_path_below_the_glob_root():
    assert glob_root("/data/c4/**/*.json.gz") == "/data/c4/"
    assert relative_to_root("/data/c4/en/x.json.gz", "/data/c4/**/*.json.gz") == "en/x.json.gz"
    assert relative_to_root("/data/c4/x.json.gz", "/data/c4/x.json.gz") == "x.json.gz"
    assert InputFile("c4", "/data/c4/en/x.json.gz", "en/x.json.gz", 1).record_id(3) == (
        "c4:en/x.json.gz:3"
    )


# --- the PTransform --------------------------------------------------------------------


def test_read_inputs_transform(tmp_path):
    write_input(tmp_path / "a" / "one.jsonl.gz", jsonl_bytes([{"text": "x"}, {"text": "y"}]))
    write_input(tmp_path / "b" / "two.jsonl", jsonl_bytes([{"text": "z"}, "{broken"]))
    inputs = [("web", f"{tmp_path}/*/*.jsonl*"), ("none", f"{tmp_path}/missing/*.jsonl")]
    with TestPipeline() as p:
        records = p | ReadInputs(inputs)
        summary = records | beam.Map(
            lambda r: (type(r).__name__, r.source, getattr(r, "id", None) or r.error)
        )
        assert_that(
            summary,
            equal_to(
                [
                    ("Document", "web", "web:a/one.jsonl.gz:1"),
                    ("Document", "web", "web:a/one.jsonl.gz:2"),
                    ("Document", "web", "web:b/two.jsonl:1"),
                    ("DeadLetter", "web", next(iter(_read_errors(tmp_path / "b" / "two.jsonl")))),
                    ("DeadLetter", "none", "input pattern matched no files"),
                ]
            ),
        )


def _read_errors(path):
    return [r.error for r in _read(str(path)) if isinstance(r, DeadLetter)]


# --- one bad line costs only itself; memory stays bounded -------------------------------

GOOD_AFTER = [{"text": f"good line {i}"} for i in range(4)]


def _records(path, config=None):
    file = InputFile("test", path, os.path.basename(path), os.path.getsize(path))
    return list(read_file(file, config or ReaderConfig()))


@pytest.mark.parametrize(
    "field, line",
    [
        ("text", b'{"text": "bad \\ud800 text"}'),
        ("id", b'{"id": "x\\udfff", "text": "fine"}'),
        ("url", b'{"text": "fine", "url": "http://a/\\ud800"}'),
        ("timestamp", b'{"text": "fine", "metadata": {"date_download": "\\udc00"}}'),
        ("sub_source", b'{"text": "fine", "meta": {"pile_set_name": "\\ud834"}}'),
        ("lang", b'{"text": "fine", "lang": "e\\ud800n"}'),
    ],
)
def test_a_lone_surrogate_in_any_field_is_a_dead_letter_at_its_line(tmp_path, field, line):
    first = b'{"text": "first"}\n'
    path = write_input(tmp_path / "a.jsonl.gz", first + jsonl_bytes([line, *GOOD_AFTER]))
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == ["first"] + [r["text"] for r in GOOD_AFTER]
    (letter,) = dead
    assert (letter.source_file, letter.line, letter.offset) == (path, 2, len(first))
    assert f"'{field}' cannot be encoded as UTF-8" in letter.error and "U+D" in letter.error
    assert letter.snippet == line.decode()
    for doc in docs:  # every document that is read can be written
        doc.id.encode("utf-8"), doc.text.encode("utf-8")


def test_escaped_surrogate_pairs_are_characters_not_errors(tmp_path):
    path = write_input(
        tmp_path / "a.jsonl", b'{"id": "\\ud83d\\ude00", "text": "\\ud83d\\ude0d"}\n'
    )
    (doc,), dead = _split(_read(path))
    assert dead == [] and (doc.id, doc.text) == ("\U0001f600", "\U0001f60d")


def test_a_lone_surrogate_in_a_code_record_is_a_dead_letter(tmp_path):
    code = {"content": "x = '\ud800'\n", "path": "a.py", "licenses": ["mit"]}
    line = json.dumps(code).encode()  # json.dumps escapes the surrogate as \ud800
    path = write_input(tmp_path / "a.jsonl", jsonl_bytes([line, *GOOD_AFTER]))
    records = _records(path)
    assert [type(r).__name__ for r in records] == ["DeadLetter"] + ["Document"] * 4
    assert records[0].line == 1 and "'text' cannot be encoded" in records[0].error


def test_a_surrogate_in_a_field_name_does_not_reach_the_dead_letter(tmp_path):
    path = write_input(tmp_path / "a.jsonl", b'{"\\ud800": 1}\n{"text": "ok"}\n')
    docs, (letter,) = _split(_read(path))
    assert [d.text for d in docs] == ["ok"] and "no 'text' field" in letter.error
    letter.error.encode("utf-8")  # the field name is escaped, not copied raw
    assert "\\ud800" in letter.error


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 3000 + b"]" * 3000,
        b"[" * 3000,
        b'{"text": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001,
    ],
    ids=["balanced", "unbalanced", "objects"],
)
def test_deeply_nested_json_costs_one_line_and_the_lines_after_it_are_read(tmp_path, line):
    path = write_input(tmp_path / "a.jsonl.zst", jsonl_bytes([line, *GOOD_AFTER]))
    docs, dead = _split(_read(path))
    assert [d.text for d in docs] == [r["text"] for r in GOOD_AFTER]
    (letter,) = dead
    assert (letter.line, letter.offset) == (1, 0)
    assert "RecursionError" in letter.error or "malformed JSON" in letter.error


def test_any_error_while_mapping_a_line_costs_only_that_line(tmp_path, monkeypatch):
    real = jsonl.record_to_document

    def flaky(record, text, file, line_no):
        if text == "boom":
            raise KeyError("a bug in the field mapping")
        return real(record, text, file, line_no)

    monkeypatch.setattr(jsonl, "record_to_document", flaky)
    path = write_input(tmp_path / "a.jsonl", jsonl_bytes([{"text": "boom"}, *GOOD_AFTER]))
    docs, (letter,) = _split(_read(path))
    assert len(docs) == 4 and letter.line == 1 and "KeyError" in letter.error


def _too_large(records):
    return [r for r in records if isinstance(r, Rejected) and r.reason == reasons.TOO_LARGE]


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz", "big.jsonl.zst"])
def test_a_64_mib_line_is_rejected_too_large_without_stopping_the_file(tmp_path, name):
    huge = b'{"text": "' + b"a" * (64 << 20) + b'"}'
    path = write_input(tmp_path / name, jsonl_bytes([{"text": "before"}, huge, *GOOD_AFTER]))
    records = _records(path, ReaderConfig(max_record_bytes=1 << 20))
    (rejected,) = _too_large(records)
    assert rejected.stage == "read"
    assert (rejected.doc.id, rejected.doc.text) == (f"test:{name}:2", "")
    assert (rejected.doc.source, rejected.doc.source_file) == ("test", path)
    docs = [r for r in records if isinstance(r, Document)]
    assert [d.text for d in docs] == ["before"] + [r["text"] for r in GOOD_AFTER]
    assert [d.id for d in docs][1:] == [f"test:{name}:{i}" for i in range(3, 7)]


def test_line_length_limit_is_exact_and_applies_to_the_last_line(tmp_path):
    fits = b'{"text": "' + b"x" * 90 + b'"}'  # 102 bytes
    path = write_input(tmp_path / "a.jsonl", fits + b"\n" + fits + b"x" + b"\n{broken\n" + fits)
    records = _records(path, ReaderConfig(max_record_bytes=len(fits)))
    kinds = [(type(r).__name__, getattr(r, "reason", None)) for r in records]
    assert kinds == [("Document", None), ("Rejected", "too_large")] + [
        ("DeadLetter", None),
        ("Document", None),
    ]
    # Offsets after a skipped line still count its bytes.
    assert records[2].offset == 2 * len(fits) + 3 and records[2].line == 3
    path = write_input(tmp_path / "b.jsonl", fits + b"\n" + fits + b"xx")
    assert len(_too_large(_records(path, ReaderConfig(max_record_bytes=len(fits))))) == 1


def test_a_damaged_stream_says_how_many_bytes_were_left_unread(tmp_path):
    member = gzip.compress(jsonl_bytes([{"text": f"line {i}"} for i in range(1000)]), mtime=0)
    broken = bytearray(member)
    broken[len(broken) // 2] ^= 0xFF
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(member + bytes(broken) + member)
    docs, (letter,) = _split(_read(str(path)))
    assert 1000 <= len(docs) < 2000 and letter.line == len(docs) + 1
    assert "gzip data is corrupt" in letter.error
    left = int(re.search(r"(\d+) of its (\d+) compressed bytes left unread", letter.error)[1])
    assert len(member) < left <= 2 * len(member) and f"of its {path.stat().st_size}" in letter.error
    assert "decompressed bytes were read" in letter.error


def test_an_io_error_ends_the_file_with_a_dead_letter_that_says_where(tmp_path):
    data = jsonl_bytes([{"text": f"line {i}"} for i in range(10)])

    class Failing(io.BytesIO):
        def read(self, size=-1):
            if self.tell() >= 40:
                raise OSError("disk on fire")
            return super().read(min(size, 20))

    file = InputFile("test", "x.jsonl", "x.jsonl", len(data))
    records = list(jsonl.read_jsonl(file, Failing(data)))
    docs, (letter,) = _split(records)
    assert [d.text for d in docs] == ["line 0", "line 1"]
    assert "OSError('disk on fire')" in letter.error and letter.line == 3
    assert f"{len(data) - 40} of its {len(data)} left unread" in letter.error


@pytest.mark.parametrize("piece", [1, 2, 7, 64, 1 << 20])
def test_lines_split_across_chunks_read_the_same_whatever_the_chunk_size(piece):
    data = (
        jsonl_bytes(
            [
                {"text": "a"},
                "",
                {"text": "b" * 300},
                "{broken",
                {"id": 7, "text": "c" * 50},
                "x" * 900,
            ]
        )
        + b'{"text": "no newline at the end"}'
    )

    class Pieces(io.BytesIO):
        def read(self, size=-1):
            return super().read(min(size, piece))

    file = InputFile("test", "x.jsonl", "x.jsonl", len(data))
    records = list(jsonl.read_jsonl(file, Pieces(data), config=ReaderConfig(max_record_bytes=400)))
    summary = [
        (type(r).__name__, getattr(r, "line", None), getattr(r, "offset", None)) for r in records
    ]
    assert summary == [
        ("Document", None, None),
        ("Document", None, None),
        ("DeadLetter", 4, data.index(b"{broken")),
        ("Document", None, None),
        ("Rejected", None, None),
        ("Document", None, None),
    ]
    assert [r.doc.id if isinstance(r, Rejected) else getattr(r, "id", None) for r in records] == [
        "test:x.jsonl:1",
        "test:x.jsonl:3",
        None,
        "7",
        "test:x.jsonl:6",
        "test:x.jsonl:7",
    ]


def test_a_gzip_bomb_costs_the_rest_of_its_file_and_says_so(tmp_path):
    """Lines before the ratio check fires are read; the rest is one dead letter naming the
    setting and what was left unread. With the check off, every line is read."""
    path = write_input(tmp_path / "bomb.jsonl.gz", b'{"text": "boom"}\n' * 1_000_000)
    docs, dead = _split(_read(path))
    assert 0 < len(docs) < 1_000_000
    assert len(dead) == 1 and "decompression bomb" in dead[0].error
    assert dead[0].line == len(docs) + 1 and "left unread" in dead[0].error
    config = ReaderConfig(max_decompression_ratio=None)
    records = list(read_file(InputFile("t", path, "bomb.jsonl.gz", os.path.getsize(path)), config))
    assert len(records) == 1_000_000 and all(isinstance(r, Document) for r in records)
