"""Scorers: one Protocol (`TaskView → scores`), registered by name, each with a version and typed args.

Families: accuracy (exact_match, contains, regex, numeric), choice (choice_accuracy, self_report,
persona_selection), signals (reply_signals), frame (frame_integrity), consistency
(paraphrase_consistency, drift), mixture (persona_mixture), helpfulness (rubric_judge,
pairwise_judge), shift (token_shift). See docs/scorers.md.
"""

from psm_eval.score.scorers.base import ArmInfo, GenerationRecord, JudgeTrace, NotApplicable, Score, Scorer, TaskView
from psm_eval.score.scorers.registry import ScorerInfo, ScoringError, build_scorer, get_scorer, register, scorer_names

__all__ = [
    "ArmInfo",
    "GenerationRecord",
    "JudgeTrace",
    "NotApplicable",
    "Score",
    "Scorer",
    "ScorerInfo",
    "ScoringError",
    "TaskView",
    "build_scorer",
    "get_scorer",
    "register",
    "scorer_names",
]
