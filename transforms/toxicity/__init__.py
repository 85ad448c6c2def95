"""Toxicity: a fastText classifier trained on labelled tweets, and the `toxicity` stage.

- `ToxicityClassifier(path=None)`: loads the default model shipped here
  (models/davidson.ftz) or another; `score(texts) -> list[float]`, the probability that
  each text is toxic (classifier.py)
- `normalize_text`: the one normalization used in training and scoring (classifier.py)
- `ToxicityFilter(ToxicityConfig)`: stage "toxicity", drop reason "toxic" (stage.py)
- `python -m transforms.toxicity.train`: train a model from a labelled CSV (train.py)
"""

from transforms.toxicity.classifier import (
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
    "DEFAULT_THRESHOLD",
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
