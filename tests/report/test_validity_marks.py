"""The report marks what a reader must not take at face value: a metric declared experimental (below its
validity bar) and a run judged by one of its own arms."""

from __future__ import annotations

from pathlib import Path

from psm_eval.records import JudgeQuality, MetricInfo, read_summary, write_summary
from psm_eval.report import build_tables, load_run_data
from psm_eval.report.html import render_html


def _mark(run_dir: Path) -> None:
    s = read_summary(run_dir)
    info = MetricInfo(task="facts", scorer="contains", scorer_version="1", metric="correct", family="accuracy",
                      direction="higher", kind="binary", headline=True, experimental=True)
    quality = JudgeQuality(task="facts", scorer="pairwise_judge", judge="hf:pretrained=model-chat render=chat",
                           unit="pair of replies", judged=30, request_failures=0, parse_failures=3,
                           parse_failure_rate=0.1, swap_pairs=27, position_agreement=0.5, first_position_rate=0.9,
                           self_judge_arms=["chat"])
    write_summary(run_dir, s.model_copy(update={"metrics": [m for m in s.metrics if m.metric != "correct"] + [info],
                                                "judge": "hf:pretrained=model-chat render=chat",
                                                "judge_arms": ["chat"], "judge_quality": [quality]}))


def test_experimental_metrics_and_a_self_judge_are_marked(run_dir: Path) -> None:
    _mark(run_dir)
    t = build_tables(load_run_data(run_dir))
    assert t.judge_arms == ["chat"]
    assert all(m.experimental for m in t.metrics if m.metric == "correct")
    assert all(h.experimental for h in t.headline if h.metric == "correct")
    info = dict(t.run_info)
    assert info["judge"].endswith("(the evaluated arm chat: it grades its own replies)")
    assert info["experimental metrics"] == "contains.correct"
    assert "position-swap agreement 0.50 over 27 pairs" in info["judge quality facts/pairwise_judge"]
    html = render_html(t)
    assert "The judge is the evaluated arm chat" in html
    assert html.count('<span class="exp-mark">experimental</span>') >= 3  # legend, headline card, metric rows
    assert t.to_json()["judge_arms"] == ["chat"]


def test_unmarked_runs_carry_no_marks(run_dir: Path) -> None:
    html = render_html(build_tables(load_run_data(run_dir)))
    assert "The judge is the evaluated arm" not in html
    assert html.count('<span class="exp-mark">experimental</span>') == 1  # the legend only
