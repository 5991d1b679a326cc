"""Versioned scoring: pure functions (lexical similarity, checks, structured outputs, the record) and the
async Scorer that adds embeddings and the LLM judge when Settings ask for them."""

from stream_agents.scoring.checks import (
    LENGTH_RATIO_CAP,
    exact_match,
    is_refusal,
    json_validity,
    length_ratio,
)
from stream_agents.scoring.embeddings import (
    EMBEDDING_VERSION,
    EmbeddingCache,
    EmbeddingError,
    EmbeddingSimilarity,
    HashingEmbedder,
    HttpEmbedder,
    LocalEmbedder,
    local_embedder_available,
)
from stream_agents.scoring.judge import JUDGE_VERSION, JudgeScores, LLMJudge, parse_verdict
from stream_agents.scoring.pairwise import PAIRWISE_VERSION, PairwiseJudge
from stream_agents.scoring.record import SCORER_VERSION, score_result, scorer_version
from stream_agents.scoring.scorer import Scorer, score_result_async
from stream_agents.scoring.similarity import (
    SIMILARITY_VERSION,
    SimilarityScore,
    lexical_similarity,
)
from stream_agents.scoring.structured import (
    STRUCTURED_VERSION,
    extract_label,
    extract_number,
    json_field_diff,
    label_agreement,
    numeric_error,
)

__all__ = [
    "EMBEDDING_VERSION",
    "JUDGE_VERSION",
    "PAIRWISE_VERSION",
    "LENGTH_RATIO_CAP",
    "SCORER_VERSION",
    "SIMILARITY_VERSION",
    "STRUCTURED_VERSION",
    "EmbeddingCache",
    "EmbeddingError",
    "EmbeddingSimilarity",
    "HashingEmbedder",
    "HttpEmbedder",
    "JudgeScores",
    "LLMJudge",
    "LocalEmbedder",
    "PairwiseJudge",
    "Scorer",
    "SimilarityScore",
    "exact_match",
    "extract_label",
    "extract_number",
    "is_refusal",
    "json_field_diff",
    "json_validity",
    "label_agreement",
    "length_ratio",
    "lexical_similarity",
    "local_embedder_available",
    "numeric_error",
    "parse_verdict",
    "score_result",
    "score_result_async",
    "scorer_version",
]
