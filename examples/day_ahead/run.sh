#!/usr/bin/env bash
# Day-ahead forecasts of France's electricity prices (see params.yaml): every
# hour, the next 24 hourly prices with an 80% interval, and the next 24 price
# levels. Its own DVC project under examples/day_ahead/work/ (git-ignored,
# examples/run_project.sh), then its results table and its interval scores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/work"
"$here/../run_project.sh" "$here" "$here/../data_epf.py"
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
