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
from tests.fixtures.openai_server import ModelServer, ServerFaults

SENTINELS = {"OPENAI_API_KEY": "sk-sentinel-openai-5e5e5e5e5e", "ANTHROPIC_API_KEY": "sk-ant-sentinel-7f7f7f7f",
             "HF_TOKEN": "hf_sentinel_token_3c3c3c3c3c"}
URL_SECRET = "urlpass@sentinel:9a9a9a"  # `@` and `:` inside a URL password (was stored half-redacted)
QUERY_SECRET = "query-sentinel-4b4b4b4b"


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
    """Secrets in the environment, in a URL's user info and in a query string (the server requires the
    query key and the environment's key as a bearer header, and answers the first request 401, so the
    URL reaches a stored error) reach no file the pipeline writes, nor its output."""
    import psm_eval.backends.retry as retry

    monkeypatch.setattr(retry, "_pause", lambda s: None)
    for key, value in SENTINELS.items():
        monkeypatch.setenv(key, value)
    server = ModelServer(None)
    keyed = ModelServer(None, ServerFaults(script=[401], require_query={"api-key": QUERY_SECRET},
                                           require_headers={"Authorization": f"Bearer {SENTINELS['OPENAI_API_KEY']}"}))
    try:
        url = server.url.replace("http://", f"http://user:{URL_SECRET}@")
        api = f"api=local-chat-completions:base_url={url}/chat/completions,model=m,tokenizer_backend=none,render=chat"
        query = (f"query=local-chat-completions:base_url={keyed.url}/chat/completions?api-key={QUERY_SECRET},model=m,"
                 "tokenizer_backend=none,render=chat")
        local = f"local=hf:pretrained={tiny_models['chat']},render=chat"
        runs = tmp_path / "runs"
        assert main(["run", "--task", str(qa_task), "--arm", api, "--arm", query, "--arm", local, "--out", str(runs),
                     "--no-progress", "--no-cache", "--max-error-rate", "1"]) == 0  # the first reply is a 401
    finally:
        server.close()
        keyed.close()
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
    generations = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    statuses = sorted((g["arm"], g["status"], (g["error"] or {}).get("kind")) for g in generations if g["arm"] == "query")
    assert statuses == [("query", "failed", "http_error")] + [("query", "ok", None)] * 4  # the key was sent
    assert "api-key=***" in next(g["error"]["message"] for g in generations if g["status"] == "failed")
    secrets = [*SENTINELS.values(), URL_SECRET, QUERY_SECRET, URL_SECRET.split("@")[1]]
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


def test_non_secret_arguments_are_stored_and_the_run_resumes(qa_task: Path, tmp_path: Path) -> None:
    """Arguments whose names merely contain `token` or `auth` are stored as given, so the run resumes
    (they were masked, and a run with a masked argument cannot resume)."""
    server = ModelServer(None)
    try:
        args = {"tokenizer_backend": "none", "tokenized_requests": "False", "add_bos_token": "False",
                "think_end_token": "</think>"}
        arm = (f"api=local-chat-completions:base_url={server.url}/chat/completions,model=m,"
               + ",".join(f"{k}={v}" for k, v in args.items()) + ",render=chat")
        runs = tmp_path / "runs"
        assert main(["run", "--task", str(qa_task), "--arm", arm, "--out", str(runs), "--no-progress",
                     "--no-cache"]) == 0
        run_dir = next(runs.iterdir())
        stored = json.loads((run_dir / "config.json").read_text())["arms"][0]
        assert {k: stored["model"]["args"][k] for k in args} == {k: str(v) for k, v in args.items()}
        lines = (run_dir / "generations.jsonl").read_text().splitlines(keepends=True)
        (run_dir / "generations.jsonl").write_text("".join(lines[:2]))  # as if killed after two records
        assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
        assert len((run_dir / "generations.jsonl").read_text().splitlines()) == 5
    finally:
        server.close()


@pytest.mark.parametrize("text,secret,kept", [
    ("401 Client Error: Unauthorized for url: http://h:1/v1/x?api-key=QSECRET1&b=2", "QSECRET1", "&b=2"),
    ("http://h/v1?b=1&access_token=QSECRET2#f", "QSECRET2", "?b=1&access_token=***#f"),
    ("https://h/v1;sig=QSECRET3", "QSECRET3", "sig=***"),
    ("http://user:pa@ss:w0rd@127.0.0.1:8000/v1", "ss:w0rd", "http://***@127.0.0.1:8000/v1"),
    ("postgres://u:p%40ss@db/x", "p%40ss", "postgres://***@db/x"),
    ("Authorization: Bearer HSECRET44", "HSECRET44", "Authorization: ***"),
    ("headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpwYXNzd29yZA", "'Authorization': '***'"),
    ("sent with bearer HSECRET55 to h", "HSECRET55", "bearer ***"),
    ('{"api_key": "JSECRET66", "model": "m"}', "JSECRET66", '"model": "m"'),
    ("x-api-key: XSECRET77", "XSECRET77", "x-api-key: ***"),
    ("password=hunter2x, user=bob", "hunter2x", "user=bob"),
    ("key sk-proj-Ab3dEf6hIj9kLm2nOp5q", "sk-proj-Ab3dEf6hIj9kLm2nOp5q", "key ***"),
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 in the log", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "in the log"),
    ("AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP", "***"),
])
def test_redact_text_masks_secret_looking_values(text: str, secret: str, kept: str) -> None:
    from psm_eval.redact import redact_text

    out = redact_text(text)
    assert secret not in out and kept in out, out


@pytest.mark.parametrize("text", [
    "tokenizer_backend=huggingface", "tokenized_requests=False", "add_bos_token=True", "auth_scheme=Bearer",
    "think_end_token=</think>", "max_tokens: 16", "KeyError: 'choices'", "token_logprobs: [null, -1.5]",
    "pretrained=/models/sk-learn-classifier-final", "http://127.0.0.1:8000/v1/completions?model=m&n=1",
    "the monkey=banana",
])
def test_redact_text_keeps_what_is_not_secret(text: str) -> None:
    from psm_eval.redact import redact_text

    assert redact_text(text) == text


def test_secret_argument_names() -> None:
    from psm_eval.redact import is_secret_key

    secret = ["api_key", "api-key", "apiKey", "x-api-key", "OPENAI_API_KEY", "HF_TOKEN", "token", "auth_token",
              "access_token", "auth", "password", "db_password_file", "AWS_SECRET_ACCESS_KEY", "client_secret", "sig"]
    plain = ["tokenizer_backend", "tokenized_requests", "add_bos_token", "auth_scheme", "think_end_token",
             "eos_token", "max_tokens", "max_gen_toks", "TOKENIZERS_PARALLELISM", "custom_prefix_token_id", "PWD",
             "SSH_AUTH_SOCK", "tokenizer", "base_url"]
    assert [n for n in secret if not is_secret_key(n)] == []
    assert [n for n in plain if is_secret_key(n)] == []


def test_secrets_a_spec_names_are_masked_in_every_file_written(tmp_path: Path) -> None:
    """Once a spec with a secret is parsed, the writers mask that literal value wherever it appears (a
    server echoing it into an answer or error), also where nothing marks it as secret."""
    from psm_eval.backends import parse_model_spec
    from psm_eval.records import write_json_atomic

    parse_model_spec("local-completions:base_url=http://u:Lit3ral-pass@h/v1?key=Lit3ral-query")
    write_json_atomic(tmp_path / "x.json", {"output": "echo Lit3ral-pass and Lit3ral-query and p%40ss"})
    text = (tmp_path / "x.json").read_text()
    assert "Lit3ral" not in text and text.count("***") == 2


def test_a_user_error_quoting_a_secret_prints_it_masked(qa_task: Path, capsys: pytest.CaptureFixture) -> None:
    arm = "=local-completions:base_url=http://h/v1?api-key=CLI-sentinel-6d6d6d,model=m,render=chat"  # no NAME
    assert main(["run", "--task", str(qa_task), "--arm", arm, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "expected NAME=TYPE" in err and "api-key=***" in err and "CLI-sentinel" not in err
