"""What can be known about a model without loading its weights: tokenizer, context length,
`ModelInfo` for the renderers, the exact token count lm-eval will send, and a fingerprint.

This lets a run render, check and look up every prompt in the response cache before (or
without ever) creating the lm-eval model.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from lm_eval.models.utils import resolve_max_length

from psm_eval.backends.spec import ModelSpec
from psm_eval.redact import redact_args
from psm_eval.types import ModelInfo

__all__ = ["ModelProbe", "CHAT_API_TYPES", "API_TYPES", "HF_TYPES", "PERFORMANCE_ARGS"]

CHAT_API_TYPES = frozenset({
    "local-chat-completions", "openai-chat-completions", "anthropic-chat", "anthropic-chat-completions",
    "litellm", "litellm-chat", "litellm-chat-completions",
})
API_TYPES = CHAT_API_TYPES | {"local-completions", "openai-completions", "anthropic-completions",
                              "textsynth", "sglang-generate", "watsonx_llm"}
HF_TYPES = frozenset({"hf", "huggingface", "hf-auto", "psm-steered"})  # psm-steered: HFLM + a hook (steer.py)
# Arguments that change speed or placement, never outputs: left out of the cache fingerprint.
PERFORMANCE_ARGS = frozenset({"batch_size", "max_batch_size", "device", "num_concurrent", "max_retries",
                              "timeout", "parallelize", "verify_certificate", "ca_cert_path",
                              "gpu_memory_utilization", "tensor_parallel_size", "data_parallel_size"})
DEFAULT_API_MAX_LENGTH = 2048


def _truthy(value: Any) -> bool | None:
    if value is None:
        return None
    return str(value).lower() == "true"


class ModelProbe:
    """Light view of a model spec: loads at most a tokenizer and a config."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.args = spec.args
        for key in ("pretrained", "tokenizer"):
            value = str(self.args.get(key) or "")
            if value.startswith(("/", "./", "../", "~")) and not Path(value).expanduser().exists():
                raise FileNotFoundError(f"model folder {value} ({key}=) does not exist")
        self.is_chat_api = spec.type in CHAT_API_TYPES
        self.is_api = spec.type in API_TYPES
        self.lock = threading.RLock()
        """Held around every use of the tokenizer: a fast tokenizer's settings are changed per call, which
        fails ("Already borrowed") when two threads of a concurrent API arm tokenize at once."""
        self.tokenizer = self._tokenizer()
        self.max_length = self._max_length()
        self.info = self._info()

    # ---- loading ------------------------------------------------------------------------

    def _source(self) -> str | None:
        if self.is_api:
            by_name = self.args.get("tokenizer_backend") == "huggingface"
            return self.args.get("tokenizer") or (self.args.get("model") if by_name else None)
        return self.args.get("tokenizer") or self.args.get("pretrained")

    def _tokenizer(self) -> Any:
        if self.is_chat_api or self.args.get("tokenizer_backend") in ("none", "None", "tiktoken", "remote"):
            return None
        source = self._source()
        if not source or (self.spec.type not in HF_TYPES and not self.is_api and self.spec.type != "vllm"):
            return None
        from transformers import AutoTokenizer

        kwargs = {"revision": self.args.get("revision") or "main",
                  "trust_remote_code": bool(_truthy(self.args.get("trust_remote_code")))}
        if _truthy(self.args.get("use_fast_tokenizer")) is not False:
            kwargs["use_fast"] = True
        return AutoTokenizer.from_pretrained(str(source), **kwargs)

    def _max_length(self) -> int:
        if self.args.get("max_length"):
            return int(self.args["max_length"])
        if self.is_api or self.tokenizer is None:
            return DEFAULT_API_MAX_LENGTH
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(self.args.get("pretrained")),
                                            revision=self.args.get("revision") or "main",
                                            trust_remote_code=bool(_truthy(self.args.get("trust_remote_code"))))
        return int(resolve_max_length(config, self.tokenizer, default=2048))

    def _info(self) -> ModelInfo:
        tok = self.tokenizer
        if self.is_chat_api:
            return ModelInfo(model_type=self.spec.type, accepts="messages", supports_loglikelihood=False)
        if tok is None:
            return ModelInfo(model_type=self.spec.type, accepts="text")
        template = getattr(tok, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default")
        special = {k: v for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
        return ModelInfo(model_type=self.spec.type, accepts="text", bos_token=self._bos(), chat_template=template,
                         special_tokens=special,
                         apply_chat_template=lambda msgs: tok.apply_chat_template(
                             [dict(m) for m in msgs], tokenize=False, add_generation_prompt=True))

    def _bos(self) -> str | None:
        """The BOS text every prompt must start with: when the tokenizer (or add_bos_token) adds one."""
        tok = self.tokenizer
        if not tok.bos_token or tok.bos_token_id is None:
            return None
        wanted = _truthy(self.args.get("add_bos_token"))
        if wanted is not None:
            return tok.bos_token if wanted else None
        # lm-eval's completions APIs add no special tokens of their own, so the BOS must be in the text
        return tok.bos_token if tok("a")["input_ids"][:1] == [tok.bos_token_id] else None

    # ---- tokens -------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids exactly as lm-eval will build them for this model type."""
        tok = self.tokenizer
        if self.is_api:
            kwargs = {"add_special_tokens": bool(_truthy(self.args.get("add_bos_token")))}
        elif tok.bos_token and text.startswith(tok.bos_token):
            kwargs = {"add_special_tokens": False}
        else:
            wanted = _truthy(self.args.get("add_bos_token"))
            kwargs = {} if wanted is None else {"add_special_tokens": wanted}
        with self.lock:
            return tok(text, **kwargs)["input_ids"]

    def count(self, text: str) -> int:
        with self.lock:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---- identity -----------------------------------------------------------------------

    def fingerprint(self, digest_file: Any = None) -> dict[str, Any]:
        """What makes this model's answers this model's: every argument that can change outputs, and
        the content of every local file they name — the model folder (weights, config, tokenizer,
        generation config, chat template …) and any other path argument (tokenizer, adapters such as
        `peft=`, steering vectors) — by sha256. APIs add the served model (`LMBackend.fingerprint`)."""
        args = {k: v for k, v in redact_args(self.args).items() if k not in PERFORMANCE_ARGS}
        fp: dict[str, Any] = {"type": self.spec.type, "args": args}
        digest = digest_file or _sha256_file
        paths = {k: Path(str(v)).expanduser() for k, v in self.args.items()
                 if isinstance(v, str) and k not in PERFORMANCE_ARGS and _looks_local(v)}
        folder = self._local_folder()
        if folder is not None:
            paths["pretrained"] = folder
        fp["files"] = {k: _content(p, digest) for k, p in sorted(paths.items()) if p.exists()}
        if self.spec.type == "psm-steered":  # what is added where, resolved (defaults filled in)
            from psm_eval.backends.steer import steering_for_spec

            fp["steering"] = steering_for_spec(self.args, f"model '{self.spec.display()}'").identity()
        return fp

    def _local_folder(self) -> Path | None:
        source = self.args.get("pretrained") or (None if self.is_api else self.args.get("model"))
        if not source:
            return None
        path = Path(str(source)).expanduser()
        if path.is_dir():
            return path.resolve()
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(str(source), revision=self.args.get("revision"), local_files_only=True))
        except Exception:  # not in the local hub cache: args (incl. revision) identify it
            return None


# files that document a model folder but never change its outputs
_DOC_FILES = (".md", ".txt", ".png", ".jpg", ".jpeg", ".gif", ".gitattributes")


def _looks_local(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or Path(value).expanduser().exists()


def _content(path: Path, digest: Any) -> dict[str, str] | str:
    """sha256 of a file, or of each file under a folder (relative path → digest), docs left out."""
    if path.is_file():
        return str(digest(path.resolve()))
    files = sorted(p for p in path.rglob("*") if p.is_file() and ".git" not in p.parts
                   and not p.name.lower().endswith(_DOC_FILES) and not p.name.lower().startswith("license"))
    return {str(p.relative_to(path)): str(digest(p.resolve())) for p in files}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
