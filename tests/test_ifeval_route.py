"""`psm-eval lm-eval ... --tasks ifeval` without IFEval's packages or nltk data: one line saying what to
install, not lm-eval's traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psm_eval.backends.ifeval import missing_module_line, nltk_resource

REPO = Path(__file__).resolve().parent.parent

# hides an installed langdetect, as on a machine without lm-eval's `ifeval` extra
WITHOUT_LANGDETECT = ("import sys; sys.modules['langdetect'] = None; from psm_eval.cli import main; "
                      "sys.exit(main(sys.argv[1:]))")


def test_missing_ifeval_package_is_one_line():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", WITHOUT_LANGDETECT, "lm-eval", "run", "--model", "dummy", "--tasks",
                           "ifeval", "--limit", "1"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("psm-eval: error:")]
    assert errors == ["psm-eval: error: lm-eval's IFEval checkers need the 'langdetect' package, which is not "
                      "installed: pip install 'psm_eval[ifeval]' (or pip install 'lm-eval[ifeval]')"]


def test_other_missing_module_and_nltk_message():
    assert missing_module_line("sacrebleu.metrics") == ("lm-eval needs the 'sacrebleu' package for this task or "
                                                         "model, which is not installed: pip install sacrebleu")
    # nltk's own LookupError text (colour codes included) names the resource
    message = ("\n**********\n  Resource \x1b[93mpunkt_tab\x1b[0m not found.\n  Please use the NLTK Downloader to "
               "obtain the resource:\n\n  >>> import nltk\n  >>> nltk.download('punkt_tab')\n")
    assert nltk_resource(message) == "punkt_tab"
    assert nltk_resource("some other lookup failure") is None
