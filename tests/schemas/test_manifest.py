from schemas.manifest import outcome_summary

COUNTS = [
    (("kept", "web", "/a", None, None), 7),
    (("dropped", "web", "/a", "normalize", "empty"), 1),
    (("dropped", "web", "/a", "exact_dedup", "exact_dup"), 2),
    (("dead_letter", "web", "/a", None, None), 3),
    (("kept", "code", "/b", None, None), 4),
]


def test_read_equals_kept_plus_dropped_plus_dead_letters_per_input():
    summary = outcome_summary(COUNTS, ["normalize", "exact_dedup"])
    assert summary["records"] == {
        "read": 17,
        "kept": 11,
        "dropped": 3,
        "dead_lettered": 3,
        "balanced": True,
    }
    a, b = summary["inputs"]  # sorted by (source, file): code first
    assert (b["file"], b["read"], b["dropped"]) == (
        "/a",
        13,
        {"exact_dedup/exact_dup": 2, "normalize/empty": 1},
    )
    assert (a["file"], a["read"], a["kept"]) == ("/b", 4, 4)


def test_stage_in_and_out_follow_the_stage_order():
    stages = outcome_summary(COUNTS, ["normalize", "exact_dedup"])["stages"]
    assert [(s["stage"], s["in"], s["out"]) for s in stages] == [
        ("normalize", 14, 13),
        ("exact_dedup", 13, 11),
    ]


def test_records_lost_after_reading_unbalance_the_accounting():
    reader = [(("web", "/a"), 13), (("code", "/b"), 4)]
    summary = outcome_summary(COUNTS, ["normalize", "exact_dedup"], reader)
    assert summary["records"]["balanced"] and summary["records"]["read"] == 17
    lost = [(("web", "/a"), 15), (("code", "/b"), 4)]  # two records never came out
    summary = outcome_summary(COUNTS, ["normalize", "exact_dedup"], lost)
    assert not summary["records"]["balanced"]
    a = next(e for e in summary["inputs"] if e["file"] == "/a")
    assert (a["read"], a["accounted"]) == (15, 13)
    # Outcomes from a file the reader never reported are not balanced either.
    summary = outcome_summary(COUNTS, ["normalize", "exact_dedup"], reader[:1])
    assert not summary["records"]["balanced"]
