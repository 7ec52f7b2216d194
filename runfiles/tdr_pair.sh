# Sourced by runfiles/{mnist,cifar10}_tdr.sh after they define train() (job dir, then
# flags), JOB and MODE=both|tdr|plain:  run_pair METRICS [extra tdr_main.py flags].
# Trains TDR and/or the plain baseline, then prints the final test METRICS (comma list)
# of the runs just done, from their results.jsonl records written since this started
# (never a line left over from an earlier run).
run_pair() {
  local metrics=$1; shift
  local started ran=() run
  started=$(date -u +%Y-%m-%dT%H:%M:%S)
  if [ "$MODE" != plain ]; then train "$JOB/tdr" "$@"; ran+=(tdr); fi
  if [ "$MODE" != tdr ]; then train "$JOB/plain" --no-reweight "$@"; ran+=(plain); fi
  for run in "${ran[@]}"; do
    run python -m common.results "$JOB/$run" --since "$started" --kind test --label "$run" \
      --metrics "$metrics"
  done
}
