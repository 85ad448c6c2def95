"""Quality filtering: language ID and the Gopher, C4, FineWeb and code rules.

Two stages for the graph, each a thin PTransform emitting Document or Rejected:
  - `LanguageFilter(LanguageConfig)`: stage "lang", drop reason "lang" (langid.py)
  - `QualityFilter(QualityConfig)`: stage "quality", one drop reason per rule (stage.py)
Each rule family is a Beam-free module with `score`/`decide` and a frozen config with
`from_dict`: gopher.py (quality and repetition), c4.py, fineweb.py, code.py.
Every signal is kept in `Document.scores` under a `family.` prefix (`lid.score`,
`gopher.word_count`, `c4.lines_kept`, `fineweb.short_line_frac`, `code.alpha_frac`, ...).
"""

from transforms.quality.langid import (
    DROP_LANG,
    LanguageConfig,
    LanguageFilter,
    LanguageIdentifier,
)
from transforms.quality.langid import STAGE as LANG_STAGE
from transforms.quality.stage import STAGE as QUALITY_STAGE
from transforms.quality.stage import Assessment, QualityConfig, QualityFilter, assess

__all__ = [
    "DROP_LANG",
    "LANG_STAGE",
    "QUALITY_STAGE",
    "Assessment",
    "LanguageConfig",
    "LanguageFilter",
    "LanguageIdentifier",
    "QualityConfig",
    "QualityFilter",
    "assess",
]
