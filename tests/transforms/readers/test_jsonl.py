"""The JSON lines reader on real fixtures and on every kind of bad input."""

import gzip
import os

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import DeadLetter, Document
from tests.conftest import jsonl_bytes, write_input
from transforms.readers import ReadInputs, read_file
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
