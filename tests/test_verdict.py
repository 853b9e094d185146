"""The PSM verdict: each endpoint's p-value against scipy / statsmodels, Holm over the primary endpoints
only, the verdict rules (controls, missing arms, roles), and the trait profile's yes-bias removal.

Scores are planted here with known truth; the statistics underneath are tested against their references
in tests/stats/."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from psm_eval.records import MetricInfo, Prediction, Score
from psm_eval.records.config import RunConfig
from psm_eval.score.verdict import ALPHA, evaluate

RNG = np.random.default_rng(11)


def _scores(task: str, metric: str, arm: str, values, *, scorer: str = "s", binary: bool = False,
            clusters=None, turns=None, other: str | None = None, detail=None) -> list[Score]:
    out = []
    for i, v in enumerate(values):
        out.append(Score(task=task, sample_id=f"x{i}", arm=arm, metric=metric, value=float(v), binary=binary,
                         scorer=scorer, cluster=clusters[i] if clusters else f"x{i}",
                         turn=None if turns is None else turns[i], other_arm=other,
                         detail=detail[i] if detail else {}))
    return out


def _info(task: str, metric: str, kind: str = "continuous", scorer: str = "s", chart=None) -> MetricInfo:
    return MetricInfo(task=task, scorer=scorer, metric=metric, family="accuracy", direction="higher", kind=kind,
                      chart=chart)


def _prediction(pid: str, *endpoints: dict) -> Prediction:
    return Prediction.model_validate({"id": pid, "title": pid.lower(), "claim": "c", "endpoints": list(endpoints)})


def _endpoint(**kw) -> dict:
    return {"task": "t", "scorer": "s", "metric": "m", **kw}


def _run(predictions, scores, metrics, arms, roles=None, metadata=None):
    block = evaluate(predictions, roles or {}, scores, metrics, metadata or {}, arms, seed=3)
    assert block is not None
    return block


def test_one_arm_continuous_mean_p_is_scipys_one_sided_t() -> None:
    x = RNG.normal(0.3, 1.0, 25)
    block = _run([_prediction("P1", _endpoint(arms=["a"], test="above", bound=0.0))],
                 _scores("t", "m", "a", x), [_info("t", "m")], ["a"])
    e = block.predictions[0].endpoints[0]
    ref = sps.ttest_1samp(x, 0.0, alternative="greater").pvalue
    assert e.p_support == pytest.approx(ref, rel=0.01)
    assert e.p_support_holm == pytest.approx(ref, rel=0.01)  # a family of one
    assert (e.ci_low, e.ci_high) == pytest.approx(sps.t.interval(0.95, 24, x.mean(), sps.sem(x)), rel=1e-6)
    assert e.decision == ("as predicted" if ref < ALPHA else "undecided")


def test_paired_difference_below_is_scipys_paired_t_and_tost_is_statsmodels() -> None:
    a = RNG.normal(0.0, 1.0, 30)
    b = a + RNG.normal(0.05, 0.3, 30)
    scores = _scores("t", "m", "a", a) + _scores("t", "m", "b", b)
    block = _run([_prediction("P1", _endpoint(arms=["a", "b"], test="below", bound=0.0),
                              _endpoint(arms=["a", "b"], test="equivalent", margin=0.25, role="secondary"))],
                 scores, [_info("t", "m")], ["a", "b"])
    below, equiv = block.predictions[0].endpoints
    assert below.p_support == pytest.approx(sps.ttest_rel(a, b, alternative="less").pvalue, rel=0.01)
    assert below.n == 30 and below.n_clusters == 30
    p_tost = ttost_paired(a, b, -0.25, 0.25)[0]
    assert equiv.p_support == pytest.approx(p_tost, rel=0.01)
    assert equiv.decision == ("as predicted" if p_tost < ALPHA else "undecided")
    assert equiv.ci_level == pytest.approx(0.95)


def test_holm_runs_over_primary_endpoints_of_every_prediction_and_nothing_else() -> None:
    arms = ["a"]
    scores, metrics, preds, raws = [], [], [], []
    for i, shift in enumerate([0.9, 0.45, 0.35, 0.2]):
        x = RNG.normal(shift, 1.0, 30)
        scores += _scores("t", f"m{i}", "a", x)
        metrics.append(_info("t", f"m{i}"))
        raws.append(sps.ttest_1samp(x, 0.0, alternative="greater").pvalue)
    noise = RNG.normal(0.5, 1.0, 30)
    scores += _scores("t", "extra", "a", noise)
    metrics.append(_info("t", "extra"))
    preds = [_prediction("P1", _endpoint(metric="m0", arms=arms, test="above"),
                         _endpoint(metric="m1", arms=arms, test="above"),
                         _endpoint(metric="extra", arms=arms, test="above", role="secondary")),
             _prediction("P2", _endpoint(metric="m2", arms=arms, test="above"),
                         _endpoint(metric="m3", arms=arms, test="above"))]
    block = _run(preds, scores, metrics, arms)
    assert block.primary_endpoints == 4
    reference = multipletests(raws, method="holm")[1]
    got = [e.p_support_holm for p in block.predictions for e in p.endpoints if e.role == "primary"]
    assert got == pytest.approx(list(reference), rel=0.02)
    secondary = block.predictions[0].endpoints[2]
    assert secondary.p_support_holm is None
    assert secondary.p_support == pytest.approx(sps.ttest_1samp(noise, 0.0, alternative="greater").pvalue, rel=0.01)


def test_binary_endpoints_use_wilson_and_tango_and_no_interval_is_zero_width() -> None:
    a, b = [1.0] * 15, [1.0] * 15
    scores = _scores("t", "m", "a", a, binary=True) + _scores("t", "m", "b", b, binary=True)
    block = _run([_prediction("P1", _endpoint(arms=["a", "b"], test="equivalent", margin=0.1),
                              _endpoint(arms=["a"], test="above", bound=0.5, role="secondary"))],
                 scores, [_info("t", "m", "binary")], ["a", "b"])
    diff, mean = block.predictions[0].endpoints
    assert "Tango" in diff.method and diff.ci_low < 0 < diff.ci_high  # 15/15 vs 15/15 is not [0, 0]
    assert diff.decision == "undecided" and block.predictions[0].verdict == "inconclusive"
    assert "this run shows equivalence only within ±" in diff.sentence
    assert mean.method.startswith("Wilson") and mean.ci_low == pytest.approx(0.796, abs=2e-3)
    assert mean.decision == "as predicted"


def test_verdicts_control_failure_missing_arm_roles_and_contradiction() -> None:
    good = RNG.normal(1.0, 0.5, 20)
    flat = RNG.normal(0.0, 0.5, 20)
    scores = (_scores("t", "m", "post", good) + _scores("t", "m", "pre", flat) + _scores("t", "c", "post", flat)
              + _scores("t", "c", "pre", flat))
    metrics = [_info("t", "m"), _info("t", "c")]
    preds = [
        _prediction("P1", _endpoint(arms=["chat", "base"], test="above")),  # roles → post, pre
        _prediction("P2", _endpoint(arms=["chat", "base"], test="above"),
                    _endpoint(metric="c", arms=["chat", "base"], test="above", bound=0.5, role="control")),
        _prediction("P3", _endpoint(arms=["chat", "liar"], test="above")),
        _prediction("P4", _endpoint(arms=["chat", "base"], test="below", margin=0.2)),
        _prediction("P5", _endpoint(arms=["chat"], test="above", bound=0.5),
                    _endpoint(metric="c", arms=["liar"], test="below", role="control")),
    ]
    block = _run(preds, scores, metrics, ["post", "pre"], roles={"chat": "post", "base": "pre"})
    verdicts = {p.id: p for p in block.predictions}
    assert verdicts["P1"].verdict == "supported" and verdicts["P1"].endpoints[0].arms == ("post", "pre")
    assert verdicts["P2"].verdict == "inconclusive" and "control did not come out" in verdicts["P2"].reason
    assert verdicts["P3"].verdict == "not evaluated" and "liar" in verdicts["P3"].reason
    assert verdicts["P4"].verdict == "contradicted" and verdicts["P4"].endpoints[0].decision == "against"
    assert verdicts["P5"].verdict == "inconclusive" and "not evaluated" in verdicts["P5"].reason
    assert block.primary_endpoints == 4  # P3's endpoint could not be evaluated: not in the family
    for p in block.predictions:
        assert p.sentence.startswith(f"{p.id} {p.title} — {p.verdict}")


def _profile_scores(arm: str, shift: dict[str, float], yes_bias: float) -> tuple[list[Score], dict]:
    base = {"honesty": 0.8, "warmth": 0.6, "humility": 0.4, "caution": 0.7, "candour": 0.5, "patience": 0.65,
            "curiosity": 0.55, "modesty": 0.45}
    traits = list(base)
    scores, meta = [], {}
    for k, t in enumerate(traits):
        for j in range(10):  # trait k has 2 + k items phrased so that Yes shows it: a yes-bias moves traits apart
            sid = f"{t}{j}"
            direction = "shows_trait" if j < 2 + k else "denies_trait"
            # `endorse` is the trait's (matching) answer preferred, whichever way the item is phrased; a
            # yes-bias raises it where the matching answer is Yes and lowers it where it is No
            truth = base[t] + shift.get(t, 0.0)
            value = float(np.clip(truth + (yes_bias if direction == "shows_trait" else -yes_bias)
                                  + RNG.normal(0, 0.02), 0, 1))
            scores.append(Score(task="r", sample_id=sid, arm=arm, metric="endorse", value=value, scorer="self_report",
                                cluster=sid))
            meta[sid] = {"trait": t, "direction": direction}
    return scores, meta


def test_profile_distance_removes_the_yes_bias_and_sees_a_planted_trait_shift() -> None:
    a, meta = _profile_scores("a", {}, 0.0)
    yes, _ = _profile_scores("yes", {}, 0.4)  # says Yes more: not a different persona
    shifted, _ = _profile_scores("shifted", {"honesty": -0.5, "warmth": 0.3, "humility": 0.4, "candour": -0.4,
                                             "patience": 0.3, "modesty": -0.3}, 0.0)
    metrics = [MetricInfo(task="r", scorer="self_report", metric="endorse", family="self-report",
                          direction="neither", kind="continuous")]
    preds = [_prediction("P4", {"task": "r", "scorer": "self_report", "metric": "endorse", "statistic": "profile",
                                "arms": ["yes", "a"], "test": "below", "bound": 0.15}),
             _prediction("C", {"task": "r", "scorer": "self_report", "metric": "endorse", "statistic": "profile",
                               "arms": ["shifted", "a"], "test": "above", "bound": 0.15})]
    block = _run(preds, a + yes + shifted, metrics, ["a", "yes", "shifted"], metadata={"r": meta})
    same, moved = (p.endpoints[0] for p in block.predictions)
    def trait_mean(scores: list[Score], trait: str) -> float:
        return float(np.mean([s.value for s in scores if meta[s.sample_id]["trait"] == trait]))

    naive = np.mean([abs(trait_mean(yes, t) - trait_mean(a, t)) for t in {m["trait"] for m in meta.values()}])
    assert naive > 0.15  # read without removing the lean, the yes-bias alone would look like another persona
    assert same.estimate < 0.05 and same.decision == "as predicted"
    assert moved.estimate == pytest.approx(2.2 / 8, abs=0.02) and moved.decision == "as predicted"
    assert "lean per phrasing" in same.method


def test_pooled_and_slope_and_entropy_endpoints_evaluate() -> None:
    n_tok = [{"n_tokens": int(n)} for n in RNG.integers(5, 30, 20)]
    shares = RNG.uniform(0.0, 0.2, 20)
    turns = [t for _ in range(10) for t in range(4)]
    clusters = [f"d{i}" for i in range(10) for _ in range(4)]
    falling = [max(0.0, 1.0 - 0.2 * t + RNG.normal(0, 0.05)) for t in turns]
    steady = [1.0 + RNG.normal(0, 0.05) for _ in turns]
    scores = (_scores("o", "shifted", "chat", shares, scorer="token_shift", other="base", detail=n_tok)
              + _scores("d", "kept", "base", falling, scorer="drift", clusters=clusters, turns=turns)
              + _scores("d", "kept", "chat", steady, scorer="drift", clusters=clusters, turns=turns))
    classes = RNG.multinomial(1, [0.4, 0.3, 0.3], 40)
    for arm, rows in (("plain", classes), ("base", np.tile([1, 0, 0], (40, 1)))):
        for k, name in enumerate(["assistant", "pirate", "robot"]):
            scores += _scores("x", name, arm, rows[:, k], scorer="persona_mixture", binary=True,
                              clusters=[f"q{i // 4}" for i in range(40)])
    metrics = ([_info("o", "shifted", scorer="token_shift"), _info("d", "kept", scorer="drift", chart="by_turn")]
               + [_info("x", name, "binary", scorer="persona_mixture", chart="shares")
                  for name in ["assistant", "pirate", "robot"]])
    preds = [_prediction("P3", {"task": "o", "scorer": "token_shift", "metric": "shifted", "statistic": "pooled",
                                "arms": ["chat", "base"], "test": "below", "bound": 0.5}),
             _prediction("P2", {"task": "d", "scorer": "drift", "metric": "kept", "statistic": "slope",
                                "arms": ["base"], "test": "below"},
                         {"task": "d", "scorer": "drift", "metric": "kept", "statistic": "slope",
                          "arms": ["base", "chat"], "test": "below", "role": "secondary"}),
             _prediction("P5", {"task": "x", "scorer": "persona_mixture", "metric": "assistant",
                                "statistic": "entropy", "arms": ["plain", "base"], "test": "above"})]
    block = _run(preds, scores, metrics, ["chat", "base", "plain"])
    pooled = block.predictions[0].endpoints[0]
    expected = sum(s * n["n_tokens"] for s, n in zip(shares, n_tok)) / sum(n["n_tokens"] for n in n_tok)
    assert pooled.estimate == pytest.approx(expected) and pooled.decision == "as predicted"
    slope, slope_diff = block.predictions[1].endpoints
    assert slope.estimate == pytest.approx(-0.2, abs=0.03) and slope.decision == "as predicted"
    assert slope_diff.estimate == pytest.approx(-0.2, abs=0.03) and slope_diff.n_clusters == 10
    entropy = block.predictions[2].endpoints[0]
    assert entropy.estimate > 1.0 and entropy.decision == "as predicted"
    assert all(p.verdict == "supported" for p in block.predictions)


def test_prediction_declarations_are_checked_where_they_are_written() -> None:
    with pytest.raises(ValidationError, match="needs a positive margin"):
        _prediction("P1", _endpoint(arms=["a", "b"], test="equivalent"))
    with pytest.raises(ValidationError, match="compares two arms"):
        _prediction("P1", _endpoint(arms=["a"], test="below", statistic="profile"))
    with pytest.raises(ValidationError, match="at least one primary"):
        _prediction("P1", _endpoint(arms=["a"], test="below", role="control"))
    arm = {"name": "a", "model": {"type": "hf", "args": {"pretrained": "x"}}, "render": "chat"}
    with pytest.raises(ValidationError, match="repeated: P1"):
        RunConfig.model_validate({"tasks": ["t"], "arms": [arm], "predictions": [
            _prediction("P1", _endpoint(arms=["a"], test="above")).model_dump()] * 2})
    with pytest.raises(ValidationError, match="roles map to arms this run does not have: nope"):
        RunConfig.model_validate({"tasks": ["t"], "arms": [arm], "roles": {"chat": "nope"}})
