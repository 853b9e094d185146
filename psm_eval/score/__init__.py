"""The scoring stage: stored generations → `scores.jsonl` (scorers) → `summary.json` (statistics)."""
