"""`psm-eval` command line: parse, call one function per command, print, exit code.

Errors a user can cause print one line (`psm-eval: error: ...`) and exit with their own code (2 for
usage errors, 3 for a gate precondition); bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from psm_eval.errors import ConfigError, PsmError, RunInterrupted
from psm_eval.redact import redact_text

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="psm-eval", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the same dialogues through a prompted base model and post-trained models, and compare them.",
        epilog=_examples("""
            psm-eval run                                  # the model organism pair on the organism suite
            psm-eval run --task tasks/organism-facts --arm base=hf:pretrained=PATH,render=transcript:icl \\
                         --arm chat=hf:pretrained=PATH2,render=chat
            psm-eval tasks validate tasks/
            psm-eval personas"""))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _run_parser(sub)
    _score_parser(sub)
    _tasks_parser(sub)
    _merge_parser(sub)
    _activations_parser(sub)
    _directions_parser(sub)
    _organism_parser(sub)
    _report_parsers(sub)
    _gate_parsers(sub)
    _scorers_parser(sub)
    simple = {
        "personas": ("list the shipped persona templates (transcript renderers)", "psm-eval personas"),
        "models": ("list the model types lm-eval can create", "psm-eval models"),
    }
    for name, (help_, example) in simple.items():
        sp = sub.add_parser(name, help=help_, description=help_, epilog=_examples(example),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(func=_COMMANDS[name])
    lm = sub.add_parser("lm-eval", help="run lm-eval's own CLI with psm_eval's model types registered",
                        description="Runs lm-eval's CLI with the `psm-transcript` model type registered, so any "
                                    "lm-eval task runs on a base model in a psm_eval persona.",
                        epilog=_examples("psm-eval lm-eval run --model psm-transcript --model_args "
                                         "backend=hf,pretrained=PATH,persona=icl --apply_chat_template "
                                         "--tasks TASK --include_path DIR"),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    lm.add_argument("args", nargs=argparse.REMAINDER, help="arguments for lm-eval")
    lm.set_defaults(func=_cmd_lm_eval)
    return p


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def _run_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "run", help="generate replies for every sample × arm into a run folder",
        description="Generate replies for every sample × arm and store them in runs/<run_id>/. "
                    "With no arguments: the embedded model organism (psm-tiny-base through the "
                    "assistant transcript, psm-tiny-chat through its chat template) on the organism suite.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval run
            psm-eval run --task tasks/organism-facts --limit 10
            psm-eval run --task my_task/ \\
                         --arm base=hf:pretrained=meta-llama/Llama-3.1-8B,render=transcript:urial:prompt=urial.txt \\
                         --arm chat=hf:pretrained=meta-llama/Llama-3.1-8B-Instruct,render=chat
            psm-eval run --arm api=local-chat-completions:base_url=http://127.0.0.1:8000/v1/chat/completions,model=m,render=chat
            psm-eval run -c run.yaml --seed 7
            psm-eval run --resume runs/20261122-101500-ab12cd34
            psm-eval run -c run.yaml --executor ray --shards 8 --ray-address auto   # 8 shards as Ray tasks, merged
            psm-eval run -c run.yaml --dry-run --throughput 2500                   # hours per arm at 2,500 tok/s

            arm:  NAME=TYPE:key=value,...,render=RENDERER[,system="..."][,max_gen_toks=N][,temperature=T]
            renderers: transcript:<persona or path.j2>  |  chat  |  chat:template=PATH"""))
    sp.add_argument("-c", "--config", type=Path, help="run config YAML (tasks, arms, seed …)")
    sp.add_argument("--task", action="append", default=[], metavar="TASK",
                    help="task name, folder or task.yaml (repeatable)")
    sp.add_argument("--suite", help="a suite of tasks (tasks/suites/NAME.yaml)")
    sp.add_argument("--arm", action="append", default=[], metavar="ARM", help="NAME=TYPE:args,render=... (repeatable)")
    sp.add_argument("--limit", type=int, help="first N samples of each task")
    sp.add_argument("--seed", type=int, help="run seed (default 1234)")
    sp.add_argument("--out", help="folder for run folders (default runs/)")
    sp.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a killed or failed run")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.add_argument("--shard", metavar="K/N", help="only this shard of the samples (0 <= K < N), for job arrays; "
                                                   "join the shards with `psm-eval merge`")
    sp.add_argument("--dry-run", action="store_true",
                    help="print request counts and token estimates per arm; run nothing")
    sp.add_argument("--throughput", type=float, metavar="TOKENS_PER_S",
                    help="with --dry-run: estimate hours per arm at this many tokens a second (prompt + generated)")
    sp.add_argument("--executor", choices=("in-process", "ray"), default="in-process",
                    help="ray: run --shards N shards as Ray tasks (a dead worker's shard resumes its folder), then "
                         "merge them into one run (needs pip install 'psm_eval[ray]')")
    sp.add_argument("--shards", type=int, metavar="N", help="with --executor ray: how many shards (default 1)")
    sp.add_argument("--ray-address", metavar="ADDR",
                    help="with --executor ray: the cluster to join (e.g. auto, ray://HEAD:10001); default: start a "
                         "local one. Shards and the merged run are written under --out, which every node must see")
    sp.add_argument("--max-error-rate", type=float, metavar="R",
                    help="stop the run (status failed, resumable) once more than this share of records failed (0-1)")
    sp.add_argument("--no-cache", action="store_true", help="always ask the models; ignore the response cache")
    sp.add_argument("--cache-dir", help="response cache folder (default $PSM_EVAL_CACHE_DIR or ~/.cache/psm_eval)")
    sp.add_argument("--no-activations", action="store_true",
                    help="do not store the hidden states of in-process arms' replies (measure later with "
                         "`psm-eval activations RUN_DIR`)")
    sp.add_argument("--no-score", action="store_true", help="only generate; score later with `psm-eval score`")
    sp.add_argument("--judge", metavar="SPEC", help="judge model for judged scorers (see `psm-eval score --help`)")
    sp.add_argument("--allow-self-judge", action="store_true",
                    help="accept a judge that is one of the evaluated arms (flagged in every output)")
    sp.set_defaults(func=_cmd_run)


def _score_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "score", help="score a stored run: scores.jsonl + summary.json (never calls the evaluated models)",
        description="Score the stored generations of a run with each task's scorers (or the ones named) and "
                    "write scores.jsonl and summary.json beside generations.jsonl. Scores of scorers not "
                    "re-run are kept, so re-judging needs no regeneration.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval score runs/20261122-101500-ab12cd34
            psm-eval score runs/20261122-101500-ab12cd34 --scorer contains --scorer frame_integrity
            psm-eval score RUN_DIR --scorer rubric_judge --judge hf:pretrained=PATH,render=chat
            psm-eval score RUN_DIR --scorer pairwise_judge --judge arm:chat --allow-self-judge --task helpfulness
            psm-eval score RUN_DIR --judge local-chat-completions:model=m,base_url=http://127.0.0.1:8000/v1/chat/completions

            judge: TYPE:key=value,...[,render=RENDERER][,max_gen_toks=N][,system="..."]  |  arm:NAME
            scorers: see `psm-eval scorers` and docs/scorers.md"""))
    sp.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder (runs/<run_id>)")
    sp.add_argument("--scorer", action="append", default=[], metavar="NAME",
                    help="scorer to run on every task it applies to (repeatable; default: each task's own list)")
    sp.add_argument("--task", action="append", default=[], metavar="NAME", help="score only this task (repeatable)")
    sp.add_argument("--judge", metavar="SPEC", help="judge model for judged scorers")
    sp.add_argument("--allow-self-judge", action="store_true",
                    help="accept a judge that is one of the evaluated arms (it would grade its own replies: "
                         "self-preference bias); the run's summary and report flag it")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_score)


def _scorers_parser(sub: Any) -> None:
    sp = sub.add_parser("scorers", help="list the registered scorers; `scorers validate` measures their validity card",
                        description="List the registered scorers with their versions and task kinds.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=_examples("psm-eval scorers\npsm-eval scorers validate --quick"))
    sp.set_defaults(func=_cmd_scorers)
    ssub = sp.add_subparsers(dest="scorers_command", metavar="COMMAND")
    va = ssub.add_parser(
        "validate", help="measure every metric against planted cases whose truth is known (the validity card)",
        description="Run every registered scorer on planted cases whose truth is known by construction — "
                    "synthetic replies, a fresh run of the model organism, scripted judges behind a stub server "
                    "on 127.0.0.1, draws from known distributions — and print each metric's agreement with the "
                    "truth (sensitivity/specificity or error) against its bar. Exit 1 when a metric not declared "
                    "experimental is below its bar, or a planted bad judge goes uncaught.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval scorers validate
            psm-eval scorers validate --quick                      # no organism run (seconds)
            psm-eval scorers validate --markdown docs/scorers.md   # refresh the card's table there
            psm-eval scorers validate --judge local-chat-completions:model=m,base_url=http://127.0.0.1:8000/v1/chat/completions
            psm-eval scorers validate --case my_cases.jsonl --scorer my_scorer"""))
    va.add_argument("--quick", action="store_true", help="skip the model-organism run; fewer simulated draws")
    va.add_argument("--judge", metavar="SPEC", help="also measure this judge on the planted good/bad replies")
    va.add_argument("--scorer", action="append", default=[], metavar="NAME", help="only this scorer (repeatable)")
    va.add_argument("--case", action="append", default=[], type=Path, metavar="FILE",
                    help="extra planted cases, one JSON object per line (format: psm_eval/score/validity/cases.py)")
    va.add_argument("--markdown", type=Path, metavar="PATH",
                    help="write the card as Markdown: replaces the block between its markers in PATH, or the file")
    va.set_defaults(func=_cmd_scorers_validate)


def _cmd_scorers_validate(args: argparse.Namespace) -> int:
    from psm_eval.score.scorers import get_scorer
    from psm_eval.score.validity import render_text, validate, write_markdown

    for name in args.scorer:
        get_scorer(name)  # an unknown name: one line with a suggestion
    for path in args.case:
        if not path.is_file():
            raise OSError(2, "No such file", str(path))
    card = validate(quick=args.quick, judge=args.judge, scorers=args.scorer or None, case_files=args.case,
                    log=lambda line: print(f"psm-eval: {line}", file=sys.stderr))
    print(render_text(card))
    if args.markdown is not None:
        write_markdown(card, args.markdown)
        print(f"card written to {args.markdown}")
    return 0 if card.ok else 1


def _organism_parser(sub: Any) -> None:
    sp = sub.add_parser("organism", help="rebuild or check the tiny model organism (psm-tiny-base / psm-tiny-chat)",
                        description="The model organism that `psm-eval run` evaluates by default.",
                        epilog=_examples("psm-eval organism build --out /tmp/organism\n"
                                         "psm-eval organism check --base /tmp/organism/psm-tiny-base "
                                         "--chat /tmp/organism/psm-tiny-chat"),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    osub = sp.add_subparsers(dest="organism_command", metavar="ACTION")
    osub.required = True
    build = osub.add_parser(
        "build", help="train the pair from scratch (same seed + threads → byte-identical weights)",
        description="Generate the corpus, train the tokenizer, pre-train psm-tiny-base, post-train psm-tiny-chat, "
                    "run the skill checks (a pair that misses one is rejected) and write model cards. "
                    "About 11-15 minutes on 2 CPU cores.",
        epilog=_examples("psm-eval organism build --out /tmp/organism\n"
                         "psm-eval organism build --out /tmp/quick --quick   # 2% of the steps; checks recorded only"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--out", required=True, type=Path, help="folder for psm-tiny-base/ and psm-tiny-chat/")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--threads", type=int, default=1, help="torch threads (the weights depend on it)")
    build.add_argument("--quick", action="store_true", help="a short run that checks plumbing and determinism")
    build.set_defaults(func=_cmd_organism_build)
    check = osub.add_parser("check", help="measure the behaviour table of a pair (default: the shipped one)",
                            epilog=_examples("psm-eval organism check"),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--base", type=Path, help="psm-tiny-base folder (default: shipped)")
    check.add_argument("--chat", type=Path, help="psm-tiny-chat folder (default: shipped)")
    check.set_defaults(func=_cmd_organism_check)


def _cmd_organism_build(args: argparse.Namespace) -> int:
    import json

    from psm_eval.organism.build import QUICK_SCALE, build

    summary = build(args.out, seed=args.seed, threads=args.threads, steps_scale=QUICK_SCALE if args.quick else 1.0)
    print(json.dumps({k: summary[k] for k in ("sha256", "seconds", "parameters")}, indent=2))
    print(f"organism written to {args.out}")
    return 0


def _cmd_organism_check(args: argparse.Namespace) -> int:
    from psm_eval.organism.checks import main as check_main

    argv = [*(["--base", str(args.base)] if args.base else []), *(["--chat", str(args.chat)] if args.chat else [])]
    return check_main(argv)


def _merge_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "merge", help="join the shards of a job array into one run",
        description="Join the run folders of `psm-eval run --shard K/N` (K = 0..N-1) into one run folder whose "
                    "generations.jsonl equals that of an unsharded run. Then score it with `psm-eval score`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            # Slurm: sbatch --array=0-3 --wrap 'psm-eval run -c run.yaml --shard $SLURM_ARRAY_TASK_ID/4 --out shards/'
            psm-eval merge shards/* --out runs/
            psm-eval score runs/<merged run>"""))
    sp.add_argument("shards", nargs="+", type=Path, metavar="SHARD_DIR", help="the shards' run folders")
    sp.add_argument("--out", default="runs", help="folder that receives the merged run (default runs/)")
    sp.set_defaults(func=_cmd_merge)


def _cmd_merge(args: argparse.Namespace) -> int:
    from psm_eval.run.shard import merge_runs

    path = merge_runs(args.shards, Path(args.out))
    print(f"merged run written to {path}")
    return 0


GATE_EXIT_CODES = """
exit codes:
  0  pass: every gated metric passes (or is INCONCLUSIVE and the policy maps that to pass)
  1  regression: a metric regressed (or is INCONCLUSIVE and the policy maps that to fail)
  2  usage error: bad option, policy file or baseline file
  3  precondition error: task versions, judge or scorer versions differ, sample-id coverage or
     error budget fails, nothing scored; the message names which
  4  inconclusive: no regression, but some metric could not be shown within its margin"""


def _gate_parsers(sub: Any) -> None:
    sp = sub.add_parser(
        "gate", help="CI regression gate: a run against a baseline → exit code",
        description="Compare a scored run with a baseline (a run folder or a `psm-eval baseline export` file), per "
                    "metric and arm, paired by sample id: PASS when the CI's lower bound is within the margin, "
                    "REGRESSION when the whole CI is below 0 and the estimate beyond the margin, else INCONCLUSIVE "
                    "with the minimum detectable effect. Cluster-bootstrap CIs, Holm across the gated metrics. "
                    "See docs/ci.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval gate runs/NEW --baseline baseline.json
            psm-eval gate runs/NEW --baseline baseline.json --only-failures   # print only the non-PASS rows
            psm-eval gate runs/NEW --baseline runs/OLD --policy gate.yaml --markdown summary.md --junit gate.xml
            psm-eval gate runs/NEW --baseline baseline.json --arm chat --arm-map chat=chat-v1 --task organism-facts
            psm-eval gate runs/NEW --baseline tests/data/organism-baseline.json \\
                               --policy tests/data/organism-gate.yaml""")
        + "\n" + GATE_EXIT_CODES)
    sp.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the scored run to judge")
    sp.add_argument("--baseline", type=Path, required=True, metavar="PATH", help="baseline run folder or baseline file")
    sp.add_argument("--policy", type=Path, metavar="YAML", help="gate policy (default: the built-in policy)")
    sp.add_argument("--arm", action="append", default=[], metavar="NAME", help="gate only this run arm (repeatable)")
    sp.add_argument("--arm-map", action="append", default=[], metavar="NEW=OLD",
                    help="compare the run's arm NEW with the baseline's arm OLD (repeatable)")
    sp.add_argument("--task", action="append", default=[], metavar="NAME", help="gate only this task (repeatable)")
    sp.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary (for $GITHUB_STEP_SUMMARY)")
    sp.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML (one testcase per metric)")
    sp.add_argument("--json", type=Path, metavar="PATH", help="write the verdicts as JSON")
    sp.add_argument("--only-failures", action="store_true",
                    help="print only the metrics that did not PASS (the files written keep every metric)")
    sp.set_defaults(func=_cmd_gate)
    bl = sub.add_parser("baseline", help="portable baselines for the gate",
                        description="Baselines for `psm-eval gate`.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=_examples("psm-eval baseline export runs/20261122-101500-ab12cd34 -o baseline.json"))
    bsub = bl.add_subparsers(dest="baseline_command", metavar="ACTION")
    bsub.required = True
    ex = bsub.add_parser("export", help="write a run's per-sample scores as a portable baseline file",
                         description="Write the per-sample scores of a scored run (sample id, cluster, arm, metric, "
                                     "value or unscored reason), task versions and data hashes, and redacted arm "
                                     "specs — no generations, no prompts — as one JSON file for `psm-eval gate`.",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog=_examples("psm-eval baseline export runs/20261122-101500-ab12cd34 -o baseline.json"))
    ex.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a scored run folder")
    ex.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="baseline file to write")
    ex.set_defaults(func=_cmd_baseline_export)


def _cmd_gate(args: argparse.Namespace) -> int:
    from psm_eval.gate import parse_arm_map, run_gate
    from psm_eval.gate.outputs import console, write_outputs

    result = run_gate(args.run_dir, args.baseline, args.policy, arms=args.arm, tasks=args.task,
                      arm_map=parse_arm_map(args.arm_map))
    write_outputs(result, markdown_path=args.markdown, junit_path=args.junit, json_path=args.json)
    if result.error:
        print(f"psm-eval: error: {redact_text(result.error)}", file=sys.stderr)
    else:
        print(console(result, only_failures=args.only_failures))
    return result.exit_code


def _cmd_baseline_export(args: argparse.Namespace) -> int:
    from psm_eval.gate.baseline import write_baseline_file

    print(f"baseline written to {write_baseline_file(args.run_dir, args.output)}")
    return 0


def _report_parsers(sub: Any) -> None:
    sp = sub.add_parser(
        "report", help="HTML / xlsx / JSON / CSV reports of a scored run (or an index of runs)",
        description="Build the reports of a scored run from its folder only: a self-contained HTML page, an Excel "
                    "workbook, JSON and a CSV of the samples (default: all four, into reports/<run_id>/). With "
                    "--index DIR: one page listing every run under DIR.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval report runs/20261122-101500-ab12cd34
            psm-eval report runs/20261122-101500-ab12cd34 --html --out /tmp/report
            psm-eval report RUN_DIR --baseline-arm base-urial --target-arm chat
            psm-eval report RUN_DIR --open                # and open report.html in a browser
            psm-eval report --index runs/"""))
    sp.add_argument("run_dir", nargs="?", type=Path, metavar="RUN_DIR", help="a scored run folder")
    sp.add_argument("--html", action="store_true", help="write report.html")
    sp.add_argument("--xlsx", action="store_true", help="write report.xlsx")
    sp.add_argument("--json", action="store_true", help="write report.json")
    sp.add_argument("--csv", action="store_true",
                    help="write samples.csv (one row per reply; text starting with = + - @ TAB CR or ' gets a "
                         "leading ', so a spreadsheet never runs it as a formula)")
    sp.add_argument("--out", help="output folder (default reports/<run_id>/; with --index: reports/index.html)")
    sp.add_argument("--index", type=Path, metavar="DIR", help="write an index page of every run under DIR")
    sp.add_argument("--open", action="store_true", help="open the HTML report in a web browser (where there is one)")
    sp.add_argument("--baseline-arm", metavar="ARM",
                    help="the prompted base arm of the headline (default: first transcript arm)")
    sp.add_argument("--target-arm", metavar="ARM",
                    help="the post-trained arm of the headline (default: first chat arm on another model)")
    sp.set_defaults(func=_cmd_report)
    cp = sub.add_parser(
        "compare", help="an HTML report comparing two runs of the same tasks (samples joined by id)",
        description="Compare run B with run A (e.g. two checkpoints): every metric per arm in both runs, the "
                    "paired difference B − A by sample id with its CI, and both runs' replies side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval compare runs/20261122-101500-ab12cd34 runs/20261123-090000-ef56ab78
            psm-eval compare RUN_A RUN_B --out reports/"""))
    cp.add_argument("run_a", type=Path, metavar="RUN_A", help="the reference run")
    cp.add_argument("run_b", type=Path, metavar="RUN_B", help="the run compared with it")
    cp.add_argument("--out", help="output .html file or folder (default reports/)")
    cp.set_defaults(func=_cmd_compare)


def _cmd_report(args: argparse.Namespace) -> int:
    from psm_eval.report import ReportError, write_index, write_reports
    from psm_eval.report.write import FORMATS

    if args.index is not None:
        if args.run_dir is not None:
            raise ReportError("give either RUN_DIR or --index DIR, not both")
        index = write_index(args.index, args.out)
        print(f"index written to {index}")
        if args.open:
            _open_in_browser(Path(index).resolve())
        return 0
    if args.run_dir is None:
        raise ReportError("no run folder given (psm-eval report RUN_DIR, or --index DIR)")
    formats = [f for f in FORMATS if getattr(args, f)] or list(FORMATS)
    paths = write_reports(args.run_dir, args.out, formats, baseline_arm=args.baseline_arm, target_arm=args.target_arm)
    for path in paths:
        print(f"report written to {path}")
    html = next((p.resolve() for p in paths if p.suffix == ".html"), None)
    if html is not None:
        print(f"open in a browser: {html.as_uri()}")
        if args.open:
            _open_in_browser(html)
    elif args.open:
        print("psm-eval: note: --open opens the HTML report, which was not asked for (add --html)", file=sys.stderr)
    return 0


def _open_in_browser(html: Path) -> None:
    import webbrowser

    try:
        opened = webbrowser.get().open(html.as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:  # a server, a container, CI: nothing to open it with
        print(f"psm-eval: note: no web browser found here; open {html} on a machine with one", file=sys.stderr)


def _cmd_compare(args: argparse.Namespace) -> int:
    from psm_eval.report import write_compare

    print(f"comparison written to {write_compare(args.run_a, args.run_b, args.out)}")
    return 0


def _tasks_parser(sub: Any) -> None:
    sp = sub.add_parser("tasks", help="list or validate tasks", description="List or validate task folders.",
                        epilog=_examples("psm-eval tasks list\npsm-eval tasks validate tasks/ my_task/task.yaml"),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = sp.add_subparsers(dest="tasks_command", metavar="ACTION")
    tsub.required = True
    ls = tsub.add_parser("list", help="tasks under the tasks folder (whole descriptions), then the suites",
                         description="Every task under the tasks folder with its version, kind, sample count and "
                                     "whole description; then the suites (tasks/suites/*.yaml) and their tasks.",
                         epilog=_examples("psm-eval tasks list\npsm-eval tasks list --root tasks/ --tasks-only"),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--root", type=Path, help="folder to search (default: ./tasks)")
    ls.add_argument("--tasks-only", action="store_true", help="only the tasks, not the suites")
    ls.set_defaults(func=_cmd_tasks_list)
    va = tsub.add_parser("validate", help="validate task files and their data",
                         epilog=_examples("psm-eval tasks validate tasks/\npsm-eval tasks validate my_task/task.yaml"),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    va.add_argument("paths", nargs="+", type=Path, help="task folders, task.yaml files, or folders of tasks")
    va.set_defaults(func=_cmd_tasks_validate)


def _cmd_run(args: argparse.Namespace) -> int:
    from psm_eval.run.start import run_from_cli

    if args.throughput is not None and not args.dry_run:
        raise ConfigError("--throughput estimates hours for --dry-run; add --dry-run (a real run measures its own "
                          "throughput and prints it at the end)")
    if args.dry_run:
        from psm_eval.run.dry_run import format_plan, plan_run
        from psm_eval.run.start import resolve_config

        config = resolve_config(args.config, args.task, args.suite, args.arm, args.limit, args.seed, args.out)
        print(format_plan(plan_run(config), args.throughput))
        return 0

    path = run_from_cli(config_path=args.config, tasks=args.task, suite=args.suite, arms=args.arm,
                        limit=args.limit, seed=args.seed, out=args.out, resume=args.resume,
                        progress=not args.no_progress, cache=False if args.no_cache else None,
                        cache_dir=args.cache_dir, shard=args.shard, max_error_rate=args.max_error_rate,
                        executor=args.executor, shards=args.shards, ray_address=args.ray_address,
                        activations=False if args.no_activations else None)
    print(f"run written to {path}")
    if not args.no_activations:
        _measure(path, not args.no_progress, only_if_configured=True)
    from psm_eval.records import read_manifest
    from psm_eval.run.throughput import throughput_lines

    for line in throughput_lines(read_manifest(path).throughput):
        print(f"throughput: {line}")
    if args.no_score or args.shard:  # a shard is scored after `psm-eval merge`
        _print_failures(path)
        print(f"run folder: {path}")
        print("next: psm-eval merge SHARD_DIR... --out runs/  (once every shard is done)" if args.shard else
              f"next: psm-eval score {path}")
    else:
        _score(path, None, None, args.judge, not args.no_progress, args.allow_self_judge, resume_hint=True)
    return 0


def _measure(path: Path, progress: bool, only_if_configured: bool = False, batch_size: int = 16) -> None:
    """The activation stage (after generation, before scoring), with one line per arm."""
    from psm_eval.activations.stage import measure_run
    from psm_eval.records import read_config

    config = read_config(path).activations
    if only_if_configured and config is not None and not config.measure:
        return
    try:
        result = measure_run(path, progress=progress, batch_size=batch_size)
    except KeyboardInterrupt:
        raise RunInterrupted(f"interrupted while storing activations of {path}\n"
                             f"continue with: psm-eval activations {path}") from None
    for arm, entry in result.arms.items():
        if entry.status == "measured":
            skipped = ", ".join(f"{n} {why}" for why, n in entry.not_measured.items())
            print(f"activations: arm {arm}: {entry.n_records} records, {entry.layers} layers × {entry.hidden}"
                  + (f" (not measured: {skipped})" if skipped else "")
                  + (f"; {entry.truncated} cut to the model's length" if entry.truncated else ""))
        else:
            print(f"activations: arm {arm}: not measurable ({entry.reason})")


def _activations_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "activations", help="store the hidden states of a run's in-process arms' replies",
        description="Run every arm of RUN_DIR whose model runs in-process through transformers over its stored "
                    "replies (exact prompt + reply, one forward pass) and store each reply's mean hidden state and "
                    "its prompt's last token at every layer in RUN_DIR/activations/. Resumable; API arms are "
                    "recorded as not measurable. `psm-eval run` does this by default.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            psm-eval activations runs/20261122-101500-ab12cd34
            psm-eval activations runs/20261122-101500-ab12cd34 --batch-size 4   # less memory"""))
    sp.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    sp.add_argument("--batch-size", type=int, default=16, help="records per forward pass (default 16)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_activations)


def _cmd_activations(args: argparse.Namespace) -> int:
    _measure(args.run_dir, not args.no_progress, batch_size=args.batch_size)
    return 0


DEFAULT_PERSONAS = "assistant,liar,pirate,grumpy,robot,teacher"


def _directions_parser(sub: Any) -> None:
    sp = sub.add_parser("directions", help="persona directions of a model (the assistant axis, traits)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=_examples("psm-eval directions build --model hf:pretrained=PATH --out base.safetensors"))
    dsub = sp.add_subparsers(dest="directions_command", metavar="SUBCOMMAND")
    dsub.required = True
    b = dsub.add_parser(
        "build", help="generate each persona's replies, read their hidden states, derive directions",
        description="Each persona answers every question (greedy) through the ordinary run path; the replies' "
                    "mean hidden states give the assistant axis (assistant − the other personas, equally "
                    "weighted), one direction per --traits contrast, and where each persona sits per layer. "
                    "The same inputs give the same file, byte for byte.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("""
            # the organism's two shipped files: the same personas, questions and traits for both models
            psm-eval directions build --model hf:pretrained=psm_eval/organism/models/psm-tiny-base,dtype=float32 \\
                --render transcript --traits liar:assistant,pirate:assistant \\
                --out psm_eval/organism/models/directions/psm-tiny-base.safetensors
            psm-eval directions build --model hf:pretrained=psm_eval/organism/models/psm-tiny-chat,dtype=float32 \\
                --render chat --traits liar:assistant,pirate:assistant \\
                --out psm_eval/organism/models/directions/psm-tiny-chat.safetensors
            psm-eval directions build --model hf:pretrained=PATH --render chat --personas assistant,critic \\
                --persona-file my_personas.yaml --questions my_questions.jsonl --out mine.safetensors"""))
    b.add_argument("--model", required=True, metavar="TYPE:ARGS", help="the model (an in-process hf model)")
    b.add_argument("--render", choices=("transcript", "chat"), default="transcript",
                   help="transcript: persona templates (base models); chat: system prompts through the chat template")
    b.add_argument("--personas", default=DEFAULT_PERSONAS,
                   help=f"comma-separated persona names, 'assistant' among them (default {DEFAULT_PERSONAS}); build "
                        "the two models you compare with the same personas and questions")
    b.add_argument("--persona-file", action="append", type=Path, default=[], metavar="FILE",
                   help="your own persona: a .j2 transcript template (named by its stem) or a YAML of "
                        "name: system prompt (repeatable)")
    b.add_argument("--questions", metavar="TASK|FILE.jsonl",
                   help="a task name or folder, or a JSONL of {id, question} (default: the shipped neutral questions)")
    b.add_argument("--traits", metavar="POS:NEG,...", help="trait directions, e.g. liar:assistant,pirate:assistant")
    b.add_argument("--max-gen-toks", type=int, default=48, help="tokens per reply (default 48)")
    b.add_argument("--seed", type=int, default=1234)
    b.add_argument("--batch-size", type=int, default=16, help="records per forward pass (default 16)")
    b.add_argument("--out", required=True, type=Path, metavar="FILE", help="the directions file to write")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_directions_build)


def _cmd_directions_build(args: argparse.Namespace) -> int:
    from psm_eval.activations.build import build_directions, load_personas, parse_traits

    names = [n.strip() for n in args.personas.split(",") if n.strip()]
    personas = load_personas(names, args.render, args.persona_file)
    digest = build_directions(args.model, personas, args.out, questions=args.questions,
                              traits=parse_traits(args.traits, names), max_gen_toks=args.max_gen_toks,
                              seed=args.seed, progress=not args.no_progress, batch_size=args.batch_size)
    print(f"directions written to {args.out} ({digest})")
    return 0


def _print_failures(path: Path) -> None:
    from psm_eval.records import read_manifest
    from psm_eval.report.console import failure_lines

    lines = failure_lines(read_manifest(path))
    if not lines:
        print("failures: none")
    sys.stdout.flush()
    for line in lines:
        print(f"psm-eval: failures: {line}", file=sys.stderr, flush=True)


def _score(run_dir: Path, scorers: list[str] | None, tasks: list[str] | None, judge: str | None,
           progress: bool, allow_self_judge: bool = False, resume_hint: bool = False) -> None:
    from psm_eval.records import read_summary
    from psm_eval.report.console import file_lines, results_lines
    from psm_eval.run.runner import resume_hint as hint
    from psm_eval.score.stage import score_run

    try:
        paths = score_run(run_dir, scorers=scorers, judge=judge, tasks=tasks, progress=progress,
                          allow_self_judge=allow_self_judge)
    except KeyboardInterrupt:  # the generations are complete: scoring starts over from them
        raise RunInterrupted(hint(run_dir, "scoring") if resume_hint else
                             f"interrupted while scoring {run_dir}\n"
                             f"score it with: psm-eval score {run_dir}") from None
    for line in paths.skipped:
        print(f"psm-eval: note: not scored: {line}", file=sys.stderr)
    for line in paths.warnings:
        print(f"psm-eval: warning: {line}", file=sys.stderr)
    sys.stderr.flush()
    print("\n".join(["", *results_lines(read_summary(run_dir))]), flush=True)
    _print_failures(run_dir)
    print("\n".join(file_lines(run_dir, paths.scores, paths.summary)))


def _cmd_score(args: argparse.Namespace) -> int:
    _score(args.run_dir, args.scorer or None, args.task or None, args.judge, not args.no_progress,
           args.allow_self_judge)
    return 0


def _cmd_scorers(args: argparse.Namespace) -> int:
    from psm_eval.score.scorers import get_scorer, scorer_names

    for name in scorer_names():
        info = get_scorer(name)
        print(f"{name:24} v{info.version:<4} {'/'.join(sorted(info.kinds)):24} {info.doc}")
    return 0


def _cmd_tasks_list(args: argparse.Namespace) -> int:
    from psm_eval.data.task import default_tasks_root, find_task_dirs, load_task
    from psm_eval.report.console import console_width

    root = args.root or default_tasks_root()
    width = console_width()
    print(f"{'task':28} {'version':8} {'kind':16} samples")
    for d in find_task_dirs(root):
        task = load_task(d)
        print(f"{task.name:28} v{task.version:<7} {task.spec.kind:16} {len(task.samples)}")
        print(textwrap.fill(" ".join(task.spec.description.split()), width, initial_indent="    ",
                            subsequent_indent="    ", break_on_hyphens=False))
    if not args.tasks_only:
        _print_suites(root, width)
    return 0


def _print_suites(root: Path, width: int) -> None:
    from psm_eval.run.config import read_suite

    paths = sorted((root / "suites").glob("*.yaml"))
    if not paths:
        return
    print("\nsuites (psm-eval run --suite NAME):")
    for path in paths:
        suite = read_suite(str(path))
        preds = f", {len(suite.predictions)} declared predictions" if suite.predictions else ""
        print(f"{path.stem:28} {len(suite.tasks)} tasks{preds}")
        text = " ".join(suite.description.split())
        for line in ([text] if text else []) + [f"tasks: {', '.join(suite.tasks)}"]:
            print(textwrap.fill(line, width, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False))


def _cmd_tasks_validate(args: argparse.Namespace) -> int:
    from psm_eval.data.task import find_task_dirs, load_task

    failures = 0
    for path in args.paths:
        dirs = [path.parent] if path.is_file() else find_task_dirs(path)
        if not dirs:
            print(f"psm-eval: error: {path}: no task.yaml found", file=sys.stderr)
            failures += 1
        for d in dirs:
            try:
                task = load_task(d)
                print(f"ok     {task.name} v{task.version}: {len(task.samples)} samples ({d})")
                for note in task.notes:
                    print(f"       note: {note}")
            except PsmError as exc:
                failures += 1
                print(f"error  {redact_text(str(exc))}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_personas(args: argparse.Namespace) -> int:
    from psm_eval.render import load_persona, shipped_personas

    for name in shipped_personas():
        p = load_persona(name)
        print(f"{name:12} stop={list(p.stop)!r:32} {p.description}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from psm_eval.backends import model_types

    print("\n".join(model_types()))
    return 0


def _cmd_lm_eval(args: argparse.Namespace) -> int:
    from psm_eval.backends.plugin import run_lm_eval_cli

    return run_lm_eval_cli(list(args.args))


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"personas": _cmd_personas, "models": _cmd_models}


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM (timeout, Slurm, Kubernetes, docker stop) ends a run as Ctrl-C does: cancelled, resumable
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "no_progress", False):
        from psm_eval.backends import quiet_model_loading

        quiet_model_loading()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except RunInterrupted as exc:  # the run folder and the command that continues it, one per line
        sys.stdout.flush()
        print("\n".join(f"psm-eval: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return exc.exit_code
    except PsmError as exc:  # a message may quote what the user typed, a key in a URL included
        print(f"psm-eval: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("psm-eval: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a read-only folder, a missing file: one line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"psm-eval: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
