"""reidkit.evaluate: ReID retrieval metrics, k-reciprocal re-ranking and evaluation reports."""

from reidkit.evaluate.metrics import (
    EvalDetails,
    ReidMetrics,
    evaluate_features,
    evaluate_scores,
    evaluate_similarity,
)

__all__ = ["EvalDetails", "ReidMetrics", "evaluate_features", "evaluate_scores", "evaluate_similarity"]
