"""Pure, versioned scoring functions (no I/O)."""

from stream_agents.scoring.checks import (
    LENGTH_RATIO_CAP,
    exact_match,
    is_refusal,
    json_validity,
    length_ratio,
)
from stream_agents.scoring.similarity import (
    SIMILARITY_VERSION,
    SimilarityScore,
    lexical_similarity,
)

__all__ = [
    "LENGTH_RATIO_CAP",
    "SIMILARITY_VERSION",
    "SimilarityScore",
    "exact_match",
    "is_refusal",
    "json_validity",
    "length_ratio",
    "lexical_similarity",
]
