#!/usr/bin/env bash
# Run the pipeline on France's and Belgium's day-ahead electricity prices, one
# model over both series (see params.yaml), in its own DVC project under
# examples/epf_fr_be/work/ (git-ignored), then print its results table
# (examples/run_project.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../run_project.sh" "$here" "$here/../data_epf.py"
