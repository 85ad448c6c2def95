import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.normalize import (
    DROP_EMPTY,
    Normalize,
    NormalizeConfig,
    normalize_code,
    normalize_text,
)


def test_nfc():
    assert normalize_text("cafe\u0301") == "caf\u00e9"


def test_control_characters_surrogates_and_zero_width_are_removed():
    assert normalize_text("a\x00b\x07c\x1bd\u200be\ufefff\ud800g") == "abcdefg"


def test_whitespace_is_regular():
    text = "  Title\r\n\r\n\r\n\r\nline\tone   two\u00a0\u3000three  \n   next\x0cpage  "
    assert normalize_text(text) == "Title\n\nline one two three\nnext\npage"


def test_already_clean_text_is_returned_unchanged():
    text = "Hello world.\n\nSecond paragraph with \u00e9 and \u4e2d\u6587."
    assert normalize_text(text) is text or normalize_text(text) == text


def _doc(i, text):
    return Document(id=str(i), text=text, source="s", source_file="f")


def test_normalize_transform_keeps_and_rejects():
    docs = [_doc(1, " a\r\nb "), _doc(2, " \t\x00\n "), _doc(3, "ok")]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Normalize()
        summary = out | beam.Map(
            lambda x: (
                ("rejected", x.doc.id, x.reason)
                if isinstance(x, Rejected)
                else ("kept", x.id, x.text)
            )
        )
        assert_that(
            summary,
            equal_to([("kept", "1", "a\nb"), ("rejected", "2", DROP_EMPTY), ("kept", "3", "ok")]),
        )


def test_code_keeps_indentation_tabs_and_blank_lines():
    code = (
        "\n\ndef f(x):\r\n\tif x:  \r\n        return  {'a':  1}\n\n\n\n"
        "# caf\u0065\u0301\u200b  \n\n"
    )
    assert normalize_code(code) == (
        "def f(x):\n\tif x:\n        return  {'a':  1}\n\n\n\n# caf\u00e9"
    )


def test_code_sources_are_normalized_as_code():
    code = "class A:\n    x = 1\n"
    docs = [Document("c", code, "code", "f"), Document("w", code, "web", "f")]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | Normalize(NormalizeConfig(code_sources=("code",)))
        assert_that(
            out | beam.Map(lambda d: (d.id, d.text)),
            equal_to([("c", "class A:\n    x = 1"), ("w", "class A:\nx = 1")]),
        )
