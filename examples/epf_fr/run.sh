#!/usr/bin/env bash
# Run the pipeline on France's day-ahead electricity prices (see params.yaml) in
# its own DVC project under examples/epf_fr/work/ (git-ignored), then print its
# results table (examples/run_project.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../run_project.sh" "$here" "$here/../data_epf.py"
