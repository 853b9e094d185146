"""The run-folder records: one typed reader and writer per file, refusal of another schema in one line,
and located errors for a malformed record."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from psm_eval.errors import StoreError
from psm_eval.records import (SCHEMA_VERSION, GenerationRecord, Score, Stratum, iter_generations, read_manifest,
                              read_scores, read_summary, write_scores)

REPO = Path(__file__).resolve().parent.parent
OLD_RUN = REPO / "tests" / "data" / "run-schema1"  # a scored run written by psm_eval 0.1 (schema 1)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "psm_eval.cli", *args], capture_output=True, text=True, cwd=REPO)


def test_a_run_folder_of_the_previous_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    run = tmp_path / "old"
    shutil.copytree(OLD_RUN, run)
    with pytest.raises(StoreError) as err:
        read_manifest(run)
    assert f"run folder schema 1, but this psm_eval reads schema {SCHEMA_VERSION}" in str(err.value)
    for command in (["report", str(run)], ["score", str(run)], ["gate", str(run), "--baseline", str(run)],
                    ["run", "--resume", str(run)]):
        proc = _cli(*command)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and "schema 1" in lines[0], (command, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_generation_records_keep_every_stored_field(tmp_path: Path) -> None:
    """A stored line reads back typed and writes back with every field it had unchanged (fields added since
    schema 1 at their defaults), and a current record round-trips byte for byte."""
    lines = (OLD_RUN / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        old = json.loads(line)
        record = GenerationRecord.model_validate(old)
        new = record.to_json()
        if new["gen"] is not None:
            assert new["gen"].pop("look_past") == 0
        assert {k: new[k] for k in old} == old and {k: new[k] for k in set(new) - set(old)} == {
            "cached": False, "capped_from": None, "stop_sequence": None, "raw_output": None, "after_stop": None}
        new = record.to_json()
        text = json.dumps(new, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        again = GenerationRecord.model_validate(json.loads(text)).to_json()
        assert json.dumps(again, sort_keys=True, ensure_ascii=False, separators=(",", ":")) == text


def test_a_malformed_record_names_file_line_and_field(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(OLD_RUN, run)
    rows = (run / "generations.jsonl").read_text().splitlines()
    bad = json.loads(rows[1])
    bad["status"] = "maybe"
    rows[1] = json.dumps(bad)
    (run / "generations.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(StoreError) as err:
        list(iter_generations(run))
    assert "generations.jsonl:line 2" in str(err.value) and "field 'status'" in str(err.value)
    extra = json.loads(rows[0])
    extra["surprise"] = 1
    rows[1] = json.dumps(extra)
    (run / "generations.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(StoreError, match=r"line 2: field 'surprise': unknown field"):
        list(iter_generations(run))


def test_scores_round_trip_and_cluster_defaults_to_the_sample(tmp_path: Path) -> None:
    scores = [Score(task="t", sample_id="s1", arm="a", metric="m", value=1.0, stratum=Stratum(by="k", value="v")),
              Score(task="t", sample_id="s2", arm="a", metric="m", value=None, unscored="generation failed",
                    cluster="g1")]
    assert scores[0].cluster == "s1" and str(scores[0].stratum) == "k=v"
    write_scores(tmp_path, scores)
    assert read_scores(tmp_path) == scores
    with pytest.raises(ValueError, match="exactly one of 'value' and 'unscored'"):
        Score(task="t", sample_id="s", arm="a", metric="m", value=None)


def test_summary_of_another_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 1, "records": []}))
    with pytest.raises(StoreError, match="summary schema 1, but this psm_eval reads schema 2"):
        read_summary(tmp_path)
