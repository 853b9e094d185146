"""Secrets never reach a file psm_eval writes (run, score, report, baseline, gate); trust_remote_code
is off unless asked for; arbitrary task files end as a TaskError, never a crash."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psm_eval.cli import main
from psm_eval.errors import PsmError, TaskError
from psm_eval.data.task import load_task
from tests.fixtures.openai_server import ModelServer

SENTINELS = {"OPENAI_API_KEY": "sk-sentinel-openai-5e5e5e5e5e", "ANTHROPIC_API_KEY": "sk-ant-sentinel-7f7f7f7f",
             "HF_TOKEN": "hf_sentinel_token_3c3c3c3c3c"}
URL_SECRET = "urlpass-sentinel-9a9a9a"


def _texts(root: Path) -> list[tuple[Path, bytes]]:
    """Every written file's bytes; xlsx members unzipped (the workbook is a zip of XML)."""
    out = []
    for path in root.rglob("*"):
        if path.is_file():
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as z:
                    out += [(path / name, z.read(name)) for name in z.namelist()]
            else:
                out.append((path, path.read_bytes()))
    return out


def test_no_secret_reaches_any_file_or_output(tiny_models: dict, qa_task: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for key, value in SENTINELS.items():
        monkeypatch.setenv(key, value)
    server = ModelServer(None)
    try:
        url = server.url.replace("http://", f"http://user:{URL_SECRET}@")
        api = f"api=local-chat-completions:base_url={url}/chat/completions,model=m,tokenizer_backend=none,render=chat"
        local = f"local=hf:pretrained={tiny_models['chat']},render=chat"
        runs = tmp_path / "runs"
        assert main(["run", "--task", str(qa_task), "--arm", api, "--arm", local, "--out", str(runs),
                     "--no-progress", "--no-cache"]) == 0
    finally:
        server.close()
    run_dir = next(runs.iterdir())
    assert main(["score", str(run_dir), "--scorer", "contains", "--scorer", "reply_signals", "--no-progress"]) == 0
    assert main(["report", str(run_dir), "--out", str(tmp_path / "report")]) == 0
    assert main(["baseline", "export", str(run_dir), "-o", str(tmp_path / "baseline.json")]) == 0
    gate_out = tmp_path / "gate"
    gate_out.mkdir()
    code = main(["gate", str(run_dir), "--baseline", str(tmp_path / "baseline.json"), "--arm", "local", "--markdown",
                 str(gate_out / "g.md"), "--junit", str(gate_out / "g.xml"), "--json", str(gate_out / "g.json")])
    assert code in (0, 4)
    captured = capsys.readouterr()
    secrets = [*SENTINELS.values(), URL_SECRET]
    files = _texts(tmp_path)
    assert len(files) > 8
    for path, data in files:
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    for secret in secrets:
        assert secret not in captured.out and secret not in captured.err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "***@" in json.dumps(manifest)  # the URL credential was masked, not dropped silently
    assert main(["run", "--resume", str(run_dir)]) == 2  # a masked secret is not resumed with a wrong value
    assert "does not store" in capsys.readouterr().err


def test_trust_remote_code_is_off_unless_asked(tiny_models: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from psm_eval.backends import parse_model_spec
    from psm_eval.backends.lm import LMBackend

    seen: list[object] = []
    real = transformers.AutoTokenizer.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    plain = LMBackend(parse_model_spec(f"hf:pretrained={tiny_models['base']}"))
    asked = LMBackend(parse_model_spec(f"hf:pretrained={tiny_models['base']},trust_remote_code=True"))
    assert seen == [False, True]
    import lm_eval.api.registry as registry

    created: list[dict] = []

    class Capture:
        @classmethod
        def create_from_arg_obj(cls, args: dict) -> object:
            created.append(args)
            return object()

    monkeypatch.setattr(registry, "get_model", lambda name: Capture)
    plain.lm, asked.lm  # noqa: B018  (create the lm-eval models)
    assert "trust_remote_code" not in created[0] and created[1]["trust_remote_code"] is True


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.text(max_size=30))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                       max_leaves=12)
_keys = st.sampled_from(["name", "version", "description", "kind", "data", "fields", "mode", "generation",
                         "scorers", "category", "nmae", "!!python/name:os.system"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.dictionaries(_keys, _values, max_size=8), raw=st.binary(max_size=200))
def test_arbitrary_task_files_end_as_a_task_error(spec: dict, raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    for text in (yaml.safe_dump(spec, allow_unicode=True), raw.decode("utf-8", errors="replace"),
                 "name: t\n" + raw.decode("latin-1")):
        d = tmp_path_factory.mktemp("fuzz")
        (d / "task.yaml").write_text(text, encoding="utf-8")
        (d / "data.jsonl").write_text('{"q": "x"}\n')
        try:
            load_task(d)
        except TaskError as exc:
            assert "\n" not in str(exc)
        except PsmError as exc:  # any other user-facing family is fine too; a crash is not
            assert "\n" not in str(exc)
