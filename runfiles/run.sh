# Sourced by the runfiles: `run COMMAND...` runs it; with DRY_RUN=1 prints it instead
# (shell-quoted, one line), so `DRY_RUN=1 bash runfiles/cifar_taml.sh` shows what a runfile does.
run() {
  if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "$@"; echo; else "$@"; fi
}
