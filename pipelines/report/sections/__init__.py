"""The report's sections, one module each; every module exposes `SECTION` (a Section).

Run-level: headline, funnel, drops, lengths (the page always opens with these). Stage-level:
languages, near_dedup, toxicity, pii, source_mix (the stage registry picks and orders them).
"""
