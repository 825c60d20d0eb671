#!/usr/bin/env bash
# Run the pipeline on Warsaw's daily air quality (see params.yaml) in its own DVC
# project under examples/warsaw_air/work/ (git-ignored), then print its results
# table (examples/run_project.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../run_project.sh" "$here" "$here/../data_warsaw_air.py"
