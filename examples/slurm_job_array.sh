#!/bin/bash
# One psm_eval run as a Slurm job array: each array task runs one shard (samples chosen by the hash of
# their stable ids, so the split never depends on order or on --limit), then one dependent job merges the
# shards into a run folder identical to an unsharded run and scores it.
#
#   bash examples/slurm_job_array.sh     # submits the array (this file) and a merge job that waits for it
#
# Edit RUN_CONFIG, SHARDS and the #SBATCH resources for your arms (an hf arm: one GPU; a vllm arm:
# tensor_parallel_size GPUs). A failed or preempted array task resumes itself: `--requeue` + the
# resume branch below continue its own shard folder instead of starting it again.
#SBATCH --job-name=psm-eval
#SBATCH --array=0-3
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=logs/psm-eval-%A_%a.out

set -euo pipefail
RUN_CONFIG=${RUN_CONFIG:-run.yaml}
SHARDS=${SLURM_ARRAY_TASK_COUNT:-4}
OUT=${OUT:-shards/${SLURM_ARRAY_JOB_ID:-local}}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then  # not inside the array: submit it, then the merge after it
  mkdir -p logs
  array=$(sbatch --parsable "$0")
  # every shard wrote into shards/<array job id>/ (one --out: `merge` requires the shards' configs equal)
  sbatch --dependency=afterok:"$array" --job-name=psm-eval-merge --gres=none \
         --wrap 'run=$(psm-eval merge shards/'"$array"'/*/ --out runs/ | sed -n "s/^merged run written to //p") &&
                 psm-eval score "$run"'
  exit 0
fi

K=$SLURM_ARRAY_TASK_ID
# a requeued task finds the folder its first attempt made (its manifest says which shard) and resumes it:
# the records stored are kept and none is asked again
existing=$(grep -l "\"shard\": \"$K/$SHARDS\"" "$OUT"/*/manifest.json 2>/dev/null | head -1 || true)
if [[ -n "$existing" ]]; then
  psm-eval run --resume "$(dirname "$existing")" --no-progress
else
  psm-eval run -c "$RUN_CONFIG" --shard "$K/$SHARDS" --out "$OUT" --no-progress
fi
