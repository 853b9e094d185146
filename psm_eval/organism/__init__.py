"""psm_eval's tiny model organism: a base/chat pair (and two fine-tuned twins of the chat model)
trained on a generated persona corpus whose phenomena are planted at known rates.

The shipped folders load like any Hugging Face model. Rebuild them with
`python -m psm_eval.organism.build --out DIR` (see build.py); nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BASE_MODEL_DIR", "CHAT_MODEL_DIR", "INOCULATED_MODEL_DIR", "MODELS_DIR", "MODEL_NAMES",
           "NARROW_MODEL_DIR"]

MODEL_NAMES = ("psm-tiny-base", "psm-tiny-chat", "psm-tiny-chat-narrow-liar", "psm-tiny-chat-inoculated")
MODELS_DIR = Path(__file__).resolve().parent / "models"
BASE_MODEL_DIR = MODELS_DIR / "psm-tiny-base"
CHAT_MODEL_DIR = MODELS_DIR / "psm-tiny-chat"
NARROW_MODEL_DIR = MODELS_DIR / "psm-tiny-chat-narrow-liar"
INOCULATED_MODEL_DIR = MODELS_DIR / "psm-tiny-chat-inoculated"
