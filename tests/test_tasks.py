"""Task loading: stable ids, validated schema, and one-line located errors for malformed files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from psm_eval.errors import TaskError
from psm_eval.data.task import load_task

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "bad_tasks.yaml").read_text())
GOOD_ROWS = '{"id": "a", "q": "hello"}\n{"id": "b", "q": "bye"}\n'


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_malformed_task_gives_one_located_line(case: dict, tmp_path: Path) -> None:
    if "task_repeat" in case:  # a file too long to spell out: head + item × count + tail
        r = case["task_repeat"]
        case = {**case, "task": r["head"] + r["item"] * r["count"] + r["tail"]}
    (tmp_path / "task.yaml").write_text(case["task"])
    (tmp_path / "data.jsonl").write_text(case.get("data", GOOD_ROWS))
    with pytest.raises(TaskError) as info:
        load_task(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for part in case["expect"]:
        assert part in message, f"{part!r} not in {message!r}"


def test_at_least_ten_malformed_cases() -> None:
    assert len(CASES) >= 10


def _write(tmp_path: Path, rows: list[dict], fields: str = "{prompt: q, references: a}") -> Path:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "task.yaml").write_text(f"name: t\nversion: 2\ndescription: d\ndata: {{path: data.jsonl}}\nfields: {fields}\n")
    return tmp_path


def test_content_ids_are_stable_under_row_order(tmp_path: Path) -> None:
    rows = [{"q": f"question {i}", "a": str(i)} for i in range(5)]
    a = load_task(_write(tmp_path / "a", rows) if (tmp_path / "a").mkdir() is None else None)
    b = load_task(_write(tmp_path / "b", rows[::-1]) if (tmp_path / "b").mkdir() is None else None)
    assert {s.id: s.turns for s in a.samples} == {s.id: s.turns for s in b.samples}
    assert all(s.id.startswith("h-") for s in a.samples)


def test_csv_and_parquet_load_through_datasets(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"id": ["x", "y"], "q": ["one?", "two?"], "a": ["1", "2"]})
    for ext, write in ((".csv", frame.to_csv), (".parquet", frame.to_parquet)):
        d = tmp_path / ext[1:]
        d.mkdir()
        write(d / f"data{ext}", index=False)
        (d / "task.yaml").write_text(f"name: t\nversion: 1\ndescription: d\ndata: {{path: data{ext}}}\n"
                                     "fields: {id: id, prompt: q, references: a}\n")
        task = load_task(d)
        assert [s.id for s in task.samples] == ["x", "y"]
        assert task.samples[1].references == ("2",)


def test_dialogue_system_metadata_and_choices(tmp_path: Path) -> None:
    rows = [{"id": 7, "turns": [{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
                                {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}],
             "c": ["yes", "no"], "gold": "no", "cat": "x"}]
    (tmp_path / "data.jsonl").write_text(json.dumps(rows[0]) + "\n")
    (tmp_path / "task.yaml").write_text("name: t\nversion: 1\ndescription: d\nkind: multiple_choice\n"
                                        "data: {path: data.jsonl}\nfields: {id: id, dialogue: turns, choices: c, "
                                        "answer: gold, metadata: [cat]}\n")
    s = load_task(tmp_path).samples[0]
    assert s.id == "7" and [t.role for t in s.turns] == ["system", "user", "assistant", "user"]
    assert s.choices == ("yes", "no") and s.gold == 1 and s.metadata == {"cat": "x"}


def test_validate_command_reports_every_bad_task(tmp_path: Path) -> None:
    good = _write(tmp_path / "good", [{"q": "x", "a": "y"}]) if (tmp_path / "good").mkdir() is None else None
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "task.yaml").write_text("name: t\nversion: 1\n")
    proc = subprocess.run([sys.executable, "-m", "psm_eval.cli", "tasks", "validate", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"ok     t v2: 1 samples ({good})" in proc.stdout
    assert "field 'description'" in proc.stderr and str(bad) in proc.stderr


def test_yaml_anchors_in_honest_files_still_load(tmp_path: Path) -> None:
    """The alias bounds refuse only multiplying aliases: shared anchors, 1000 alias uses and a long
    file without aliases all load."""
    from psm_eval.errors import ConfigError
    from psm_eval.specs import MAX_YAML_ALIASES, load_yaml

    shared = tmp_path / "run.yaml"
    shared.write_text("tasks: [t]\nmodel: &m {type: hf, args: {pretrained: p}}\n"
                      "arms:\n  - {name: a, model: *m, render: chat}\n  - {name: b, model: *m, render: chat}\n")
    data, lines = load_yaml(shared, ConfigError)
    assert data["arms"][1]["model"] == {"type": "hf", "args": {"pretrained": "p"}} and lines[("arms", 1)] == 5
    many = tmp_path / "many.yaml"
    many.write_text("x: &x a\ny: [" + "*x, " * MAX_YAML_ALIASES + "]\n")
    assert len(load_yaml(many, ConfigError)[0]["y"]) == MAX_YAML_ALIASES
    big = tmp_path / "big.yaml"
    big.write_text("x: [" + "0," * 20_000 + "]\n")  # PyYAML composes ~20 000 nodes a second
    assert len(load_yaml(big, ConfigError)[0]["x"]) == 20_000
