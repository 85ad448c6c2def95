"""Toxicity: a fastText classifier trained on labelled tweets and clean web text, and the
`toxicity` stage.

- `ToxicityClassifier(path=None)`: loads the default model shipped here
  (models/toxicity.ftz) or another; `score(texts) -> list[float]`, the probability that
  each text is toxic (classifier.py)
- `normalize_text`: the one normalization used in training and scoring (classifier.py)
- `windows`: the line-aligned windows a document is scored in (classifier.py)
- `ToxicityFilter(ToxicityConfig)`: stage "toxicity", drop reason "toxic" (stage.py)
- `python -m transforms.toxicity.train`: train a model from a labelled CSV (train.py)
"""

from transforms.toxicity.classifier import (
    DEFAULT_MIN_WORDS,
    DEFAULT_WINDOW_WORDS,
    MODEL_FILE,
    DocumentScore,
    ToxicityClassifier,
    normalize_text,
    windows,
)
from transforms.toxicity.stage import (
    DEFAULT_THRESHOLD,
    DROP_TOXIC,
    MAX_KEY,
    MEAN_KEY,
    STAGE,
    ToxicityConfig,
    ToxicityFilter,
    decide,
)

__all__ = [
    "DEFAULT_MIN_WORDS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW_WORDS",
    "DROP_TOXIC",
    "MAX_KEY",
    "MEAN_KEY",
    "MODEL_FILE",
    "STAGE",
    "DocumentScore",
    "ToxicityClassifier",
    "ToxicityConfig",
    "ToxicityFilter",
    "decide",
    "normalize_text",
    "windows",
]
