"""summary.json records: typed per-arm means, paired differences with the right test, Holm, extras."""

from __future__ import annotations

import json

import pytest

from psm_eval.records import Score, Stratum, dumps
from psm_eval.score.scorers.registry import get_scorer
from psm_eval.score.summary import summarize as summarize_sections


def summarize(scores: list[Score], arms: list[str], seed: int = 0) -> dict:
    """The summary's statistics as summary.json holds them, with each scorer's default declarations."""
    present = {(s.task, s.scorer) for s in scores}
    metrics = [m.model_copy(update={"task": t, "scorer": sc}) for t, sc in present
               for m in get_scorer(sc).declarations(get_scorer(sc).args())]
    out = summarize_sections(scores, arms, metrics, seed=seed)
    return {"records": [r.to_json() for r in out.records], "unscored": [u.to_json() for u in out.unscored],
            "tables": [t.to_json() for t in out.tables]}


def _s(arm: str, sid: str, metric: str, value: float | None, *, scorer: str = "contains", binary: bool = True,
       turn: int = 0, repeat: int = 0, **kw) -> Score:
    return Score(task="t", sample_id=sid, arm=arm, metric=metric, value=value, binary=binary, turn=turn,
                 repeat=repeat, unscored=None if value is not None else "generation failed", scorer=scorer,
                 scorer_version="1", **kw)


def _find(summary: dict, **want) -> dict:
    hits = [r for r in summary["records"] if all(r.get(k) == v for k, v in want.items())]
    assert len(hits) == 1, (want, hits)
    return hits[0]


def test_means_differences_and_mcnemar() -> None:
    scores = [_s("base", f"q{i}", "correct", float(i < 4)) for i in range(20)]
    scores += [_s("chat", f"q{i}", "correct", float(i < 16)) for i in range(20)]
    scores += [_s("chat", "q20", "correct", None), _s("base", "q20", "correct", 1.0)]
    out = summarize(scores, ["base", "chat"], seed=1)
    base = _find(out, statistic="mean", arm="base")
    assert base["estimate"] == pytest.approx(5 / 21) and base["n"] == 21 and base["n_unscored"] == 0
    chat = _find(out, statistic="mean", arm="chat")
    assert chat["estimate"] == pytest.approx(0.8) and chat["n_unscored"] == 1 and chat["ci_low"] < 0.8 < chat["ci_high"]
    diff = _find(out, statistic="difference", arm_pair=["chat", "base"])
    assert diff["estimate"] == pytest.approx(0.6) and diff["n"] == 20 and diff["n_unscored"] == 1
    assert "McNemar" in diff["method"] and diff["p_value"] == pytest.approx(2 * 0.5 ** 12)
    assert "Newcombe" in diff["method"] and diff["ci_low"] < 0.6 < diff["ci_high"]
    # on its own sample set: both arms' means there, and what each side dropped (base's q20)
    assert diff["a_mean"] == pytest.approx(0.8) and diff["b_mean"] == pytest.approx(0.2) and diff["dropped"] == [0, 1]
    assert diff["p_holm"] is None and "exploratory" in diff["method"]  # Holm only for declared endpoints
    assert out["unscored"] == [{"task": "t", "scorer": "contains", "arm": "chat", "reason": "generation failed", "count": 1}]
    json.loads(dumps(out))  # strict JSON: no NaN, no tuples, no compound keys
    assert all("," not in k for r in out["records"] for k in r)


def test_several_replies_per_sample_use_per_sample_means_and_a_permutation_test() -> None:
    scores = [_s(arm, f"q{i}", "rating", v + (1 if arm == "chat" else 0), binary=False, repeat=r)
              for arm in ("base", "chat") for i in range(15) for r, v in enumerate((3.0, 5.0))]
    out = summarize(scores, ["base", "chat"])
    diff = _find(out, statistic="difference", arm_pair=["chat", "base"])
    assert diff["estimate"] == pytest.approx(1.0) and diff["n"] == 15 and "sign-flip" in diff["method"]
    assert diff["p_value"] < 0.001
    assert _find(out, statistic="mean", arm="base")["n_clusters"] == 15


def test_general_differences_are_unadjusted_and_strata_stay_apart() -> None:
    scores = []
    for metric, effect in (("a", 0.9), ("b", 0.0)):
        for i in range(12):
            scores.append(_s("base", f"q{i}", metric, 0.0, stratum=Stratum(by="trait", value="x")))
            scores.append(_s("chat", f"q{i}", metric, float(i < 12 * effect), stratum=Stratum(by="trait", value="x")))
    out = summarize(scores, ["base", "chat"])
    a = _find(out, statistic="difference", metric="a", stratum={"by": "trait", "value": "x"})
    b = _find(out, statistic="difference", metric="b", stratum={"by": "trait", "value": "x"})
    assert a["p_holm"] is None and b["p_holm"] is None and a["p_value"] < 0.01 and b["p_value"] == pytest.approx(1.0)
    assert not [r for r in out["records"] if r["stratum"] is None]


def test_head_to_head_scores_and_scorer_extras() -> None:
    scores = []
    for i in range(30):
        win = i % 3 != 0
        for metric, v in (("win", float(win)), ("tie", 0.0), ("loss", float(not win))):
            scores.append(_s("chat", f"q{i}", metric, v, scorer="pairwise_judge", other_arm="base"))
        scores.append(_s("chat", f"q{i}", "preference", float(win), scorer="pairwise_judge", binary=False,
                         other_arm="base", detail={"length_diff": 5 if win else -5}))
    for turn in range(4):
        for i in range(10):
            scores.append(_s("base", f"d{i}", "consistent", float(turn < 2 or i < 3), scorer="drift", turn=turn))
    out = summarize(scores, ["base", "chat"])
    win = _find(out, statistic="mean", metric="win", arm_pair=["chat", "base"])
    assert win["arm"] is None and win["estimate"] == pytest.approx(20 / 30)
    assert not [r for r in out["records"] if r["statistic"] == "difference" and r["scorer"] == "pairwise_judge"]
    lc = _find(out, statistic="lc_win_rate", arm_pair=["chat", "base"])
    assert lc["estimate"] is not None and lc["ci_low"] <= lc["estimate"] <= lc["ci_high"]
    slope = _find(out, statistic="slope", scorer="drift", arm="base")
    assert slope["estimate"] < 0 and slope["n_clusters"] == 10


def test_binary_intervals_never_claim_certainty_and_clusters_widen_them() -> None:
    """57 of 57 correct is Wilson's [0.937, 1], not a bootstrap's [1, 1]; 57 phrasings of 15 facts,
    clustered by fact, give a wider interval than 57 independent samples."""
    independent = [_s("chat", f"q{i}", "correct", 1.0) for i in range(57)]
    mean = _find(summarize(independent, ["chat"]), statistic="mean")
    assert mean["estimate"] == 1.0 and mean["ci_low"] == pytest.approx(0.9369, abs=1e-3) and mean["ci_high"] == pytest.approx(1.0)
    mixed = [_s("chat", f"q{i}", "correct", float(i % 15 != 3)) for i in range(57)]
    by_fact = [s.model_copy(update={"cluster": f"fact{i % 15}"}) for i, s in enumerate(mixed)]
    alone, clustered = (_find(summarize(x, ["chat"]), statistic="mean") for x in (mixed, by_fact))
    assert clustered["estimate"] == alone["estimate"] and clustered["n_clusters"] == 15
    assert clustered["ci_high"] - clustered["ci_low"] > 1.2 * (alone["ci_high"] - alone["ci_low"])
