"""read_file's promises over every reader: it never raises, and everything it hands out
can be written as UTF-8."""

from __future__ import annotations

import io
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import transforms.readers as readers
from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import ReadInputs, read_file, reasons
from transforms.readers.files import InputFile


def _fake_reader(records):
    def reader(file, handle, *, config):
        handle.read(10)
        for record in records:
            if isinstance(record, Exception):
                raise record
            yield record

    return reader


def _file(tmp_path, data: bytes = b"x" * 100) -> InputFile:
    path = tmp_path / "a.fake"
    path.write_bytes(data)
    return InputFile("src", str(path), "a.fake", len(data))


def test_a_record_a_reader_failed_to_check_becomes_a_dead_letter(tmp_path, monkeypatch):
    file = _file(tmp_path)
    good = Document("ok", "fine", "src", file.path)
    bad_text = Document("t", "lone \ud800", "src", file.path)
    bad_id = Rejected(Document("\udfff", "", "src", file.path), "read", reasons.TOO_LARGE)
    reader = _fake_reader([good, bad_text, bad_id])
    monkeypatch.setattr(readers, "READERS", [((".fake",), reader)])
    out = list(read_file(file))
    assert out[0] is good
    assert [type(r) for r in out[1:]] == [DeadLetter, DeadLetter]
    assert "'text' cannot be encoded as UTF-8" in out[1].error
    assert "'id' cannot be encoded" in out[2].error and "\\udfff" in out[2].error
    for letter in out[1:]:
        letter.error.encode("utf-8")


def test_dead_letters_are_made_writable(tmp_path, monkeypatch):
    file = _file(tmp_path)
    letter = DeadLetter("src", file.path, "field '\ud800' is odd", 3, 7, "snip \udc80")
    monkeypatch.setattr(readers, "READERS", [((".fake",), _fake_reader([letter]))])
    (out,) = read_file(file)
    assert (out.error, out.snippet) == ("field '\\ud800' is odd", "snip \\udc80")
    assert (out.line, out.offset) == (3, 7)


def test_a_reader_that_raises_says_how_many_bytes_were_left_unread(tmp_path, monkeypatch):
    file = _file(tmp_path)
    doc = Document("ok", "fine", "src", file.path)
    reader = _fake_reader([doc, RuntimeError("reader bug")])
    monkeypatch.setattr(readers, "READERS", [((".fake",), reader)])
    first, letter = read_file(file)
    assert first is doc and letter.line == 2
    assert "RuntimeError('reader bug')" in letter.error
    assert "90 of its 100 raw bytes left unread" in letter.error


def test_a_file_whose_path_is_not_utf8_is_one_writable_dead_letter(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jsonl"
    with open(raw, "wb") as handle:
        handle.write(b'{"text": "x"}\n')
    path = os.fsdecode(raw)  # a lone surrogate stands for the byte
    (letter,) = read_file(InputFile("src", path, "caf\xe9.jsonl", 14))
    assert "not valid UTF-8" in letter.error
    assert letter.source_file.encode("utf-8") and "\\udce9" in letter.source_file


def test_file_counts_use_the_same_writable_path(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jsonl"
    with open(raw, "wb") as handle:
        handle.write(b'{"text": "x"}\n')
    with TestPipeline() as p:
        out = p | ReadInputs([("src", f"{tmp_path}/*.jsonl")], with_counts=True)
        paths = out | beam.Map(lambda r: (type(r).__name__, r.source_file))
        escaped = os.fsdecode(raw).encode("utf-8", "backslashreplace").decode()
        assert_that(paths, equal_to([("DeadLetter", escaped), ("FileRead", escaped)]))


def test_what_is_left_unread_is_unknown_without_a_position_or_a_size():
    handle = io.BytesIO(b"abc")
    handle.read(1)
    assert readers._unread(handle, 3) == "2 of its 3 raw bytes left unread"
    assert "unknown" in readers._unread(None, 3)
    assert "unknown" in readers._unread(handle, -1)  # a listed file's size is not known


def test_a_directory_given_as_a_pattern_is_a_dead_letter_that_says_so(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_bytes(b'{"text": "x"}\n')
    (letter,) = readers.match_input_files("web", str(tmp_path / "data"))
    assert isinstance(letter, DeadLetter) and letter.source_file == str(tmp_path / "data")
    assert "a directory, not a file" in letter.error
