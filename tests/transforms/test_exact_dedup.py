import itertools

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.exact_dedup import DROP_EXACT_DUP, ExactDedup, exact_survivor_rank


def _doc(doc_id, text):
    return Document(id=doc_id, text=text, source="s", source_file="f")


def test_one_survivor_per_text_chosen_by_stable_hash_not_order():
    copies = [_doc(f"copy-{i}", "the same text") for i in range(5)]
    winner = min(copies, key=exact_survivor_rank).id
    expected = [("unique", "kept")] + [
        (d.id, "kept") if d.id == winner else (d.id, DROP_EXACT_DUP, winner) for d in copies
    ]
    for order in itertools.islice(itertools.permutations(copies), 0, 120, 37):
        with TestPipeline() as p:
            out = p | beam.Create([*order, _doc("unique", "other text")]) | ExactDedup()
            summary = out | beam.Map(
                lambda x: (
                    (x.doc.id, x.reason, x.duplicate_of)
                    if isinstance(x, Rejected)
                    else (x.id, "kept")
                )
            )
            assert_that(summary, equal_to(expected))


def test_same_id_and_text_twice_keeps_exactly_one():
    with TestPipeline() as p:
        out = p | beam.Create([_doc("x", "t"), _doc("x", "t")]) | ExactDedup()
        kinds = out | beam.Map(lambda x: type(x).__name__)
        assert_that(kinds, equal_to(["Document", "Rejected"]))


def test_copies_with_one_id_in_two_files_keep_the_same_one_in_every_order():
    """CCNet and C4 copies of one page share its id: the tie is broken on content (file,
    then every other field), never on which copy arrives first."""
    copies = [
        Document(id="page", text="same", source="c4", source_file="c4/b.json", url="u"),
        Document(id="page", text="same", source="ccnet", source_file="ccnet/a.json", url="u"),
        Document(id="page", text="same", source="c4", source_file="c4/b.json", url="v"),
    ]
    for order in itertools.permutations(copies):
        with TestPipeline() as p:
            out = p | beam.Create(list(order)) | ExactDedup()
            kept = out | beam.Filter(lambda x: isinstance(x, Document))
            assert_that(
                kept | beam.Map(lambda d: (d.source_file, d.url)), equal_to([("c4/b.json", "u")])
            )
