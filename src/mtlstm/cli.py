"""The ``mtlstm`` command: ``mtlstm init``, ``mtlstm check``, ``mtlstm predict``
and ``mtlstm compare``.

User errors print one line each (what, where, how to fix) and exit 2, never a
bare traceback; ``mtlstm check`` prints every problem it finds, one per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtlstm.errors import MtlstmError, machine_problem, one_line, report_bug


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except MtlstmError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            print(f"error: {args.command}: {one_line(problem)}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = machine_problem(exc)
        if message is None:
            return report_bug(args.command, exc)
        print(f"error: {args.command}: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        return report_bug(args.command, exc)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtlstm",
        description="mtlstm: one multi-task LSTM trained by a DVC pipeline "
        "(`dvc repro`). This command checks a project's params.yaml and data "
        "before a run, forecasts new data with a trained model, and compares "
        "its test scores with the baselines'.",
        epilog="`mtlstm <command> --help` describes each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    check = sub.add_parser(
        "check",
        help="validate params.yaml and the data it points at",
        description="Validate params.yaml against the schema (unknown keys, types, "
        "values, tasks vs columns) and read the source table as the ingest stage "
        "would, without writing anything. Every problem is printed, one line "
        "each; exit status 2 if there is any. Also warns when ingest would "
        "forward-fill a large share of the time grid (typically an ingest.freq "
        "finer than the data).",
    )
    check.add_argument(
        "params",
        nargs="?",
        default="params.yaml",
        type=Path,
        help="the params file (default: params.yaml); its folder is the project "
        "root, where ingest.source is looked up",
    )
    check.add_argument(
        "--params-only",
        action="store_true",
        help="check params.yaml only, without reading the source data",
    )
    check.set_defaults(run=_check)
    init = sub.add_parser(
        "init",
        help="write a commented params.yaml for a table under data/raw/",
        description="Detect the time column, grid step, holes and column kinds of "
        "SOURCE and write a params.yaml that passes `mtlstm check`.",
    )
    init.add_argument("source", help="a .csv or .parquet file under data/raw/")
    init.add_argument(
        "--regress",
        action="append",
        default=[],
        metavar="COLUMN[:HORIZON]",
        help="a regression task on a numeric column (repeatable)",
    )
    init.add_argument(
        "--classify",
        action="append",
        default=[],
        metavar="COLUMN[:EDGES|qN|LABELS]",
        help="a classification task: bin edges (15,25) or N quantile classes (q3) "
        "of a numeric column, or the labels of a categorical one (repeatable)",
    )
    init.add_argument(
        "--horizon", type=int, default=1, help="default steps ahead of every task"
    )
    init.add_argument("--output", type=Path, default=Path("params.yaml"))
    init.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print the file instead of writing it",
    )
    init.add_argument(
        "--force", action="store_true", help="replace --output if it exists"
    )
    init.set_defaults(run=_init)
    predict = sub.add_parser(
        "predict",
        help="forecast from new data with a trained model",
        description="Forecast every task from a new table shaped like the "
        "training source (same columns and time step): the input is read, "
        "checked and gridded exactly as ingest did, scaled with the training "
        "bundle, and each complete lookback window gives one forecast row per "
        "origin (of every series, for a long table). With known-future inputs "
        "the input also holds, after the last observed row (of each series), "
        "the known-future columns' values up to the largest horizon. Keep the "
        "input outside data/raw/ (an ingest dependency).",
    )
    predict.add_argument(
        "--model",
        type=Path,
        default=Path("models/model.keras"),
        help="trained model (default: models/model.keras)",
    )
    predict.add_argument(
        "--bundle",
        type=Path,
        default=Path("models/preprocess.json"),
        help="its preprocessing bundle (default: models/preprocess.json)",
    )
    predict.add_argument("--input", type=Path, required=True, help="CSV or Parquet")
    predict.add_argument("--output", type=Path, required=True, help="CSV to write")
    predict.add_argument(
        "--force", action="store_true", help="replace --output if it exists"
    )
    predict.add_argument(
        "--batch-size", type=int, default=1024, help="windows per model call"
    )
    predict.add_argument(
        "--allow-partial-last-step",
        action="store_true",
        help="forecast from a last grid step that holds fewer source rows than a "
        "complete one (by default it is dropped, with a note)",
    )
    predict.set_defaults(run=_predict)
    compare = sub.add_parser(
        "compare",
        help="per task, the model vs the baselines and the single-task model",
        description="One table per task: the model, the single-task model and "
        "every baseline on the test split, better direction marked, best in "
        "bold. Without EXP: the workspace's metrics/scores.json.",
    )
    compare.add_argument(
        "experiments",
        nargs="*",
        metavar="EXP",
        help="experiment names or commits (as in `dvc exp show`), workspace, a "
        "project folder (its metrics/scores.json) or a scores .json file",
    )
    compare.add_argument(
        "--spread",
        action="store_true",
        help="read the runs as repeats of one setting (e.g. one per seed, `make "
        "seeds`): each score's mean and range, and in how many runs the model "
        "beat each reference",
    )
    compare.set_defaults(run=_compare)
    return parser


def _check_predict_args(args: argparse.Namespace) -> None:
    """--batch-size >= 1; --output must not clobber an input, nor (without --force)
    any existing file, and must name a file in an existing folder; checked
    before any work, so a refused command changes nothing."""
    if args.batch_size < 1:
        raise MtlstmError(f"--batch-size must be >= 1, got {args.batch_size}")
    out = args.output.resolve()
    for option in ("input", "model", "bundle"):
        given = getattr(args, option)
        # samefile: also a symlink or hard link to the input is the input.
        if out == given.resolve() or (
            out.exists() and given.exists() and out.samefile(given)
        ):
            raise MtlstmError(
                f"--output {args.output} is the --{option} file; write the "
                "forecasts to another file"
            )
    if out.is_dir():
        raise MtlstmError(f"--output {args.output} is a folder; name a CSV file")
    if not out.parent.is_dir():
        raise MtlstmError(f"--output {args.output}: folder {out.parent} not found")
    if out.exists() and not args.force:
        raise MtlstmError(f"--output {args.output} exists; pass --force to replace it")


def _init(args: argparse.Namespace) -> None:
    from mtlstm import scaffold
    from mtlstm.io import atomic_path

    out = args.output
    # Before --force is offered: no flag replaces a folder (the move would fail
    # as an internal error, after the source was profiled).
    if not args.print_only and out.is_dir():
        raise MtlstmError(f"--output {out} is a folder; name a YAML file")
    if not args.print_only and out.exists() and not args.force:
        raise MtlstmError(
            f"{out} exists; pass --force to replace it (or --print to see the "
            "proposed file)"
        )
    if not args.print_only and not out.resolve().parent.is_dir():
        raise MtlstmError(f"--output {out}: folder {out.resolve().parent} not found")
    prof = scaffold.profile(args.source, Path.cwd())
    tasks = scaffold.tasks_from_flags(prof, args.regress, args.classify, args.horizon)
    flags = [f"--regress {r}" for r in args.regress]
    flags += [f"--classify {c}" for c in args.classify]
    if args.horizon != 1:
        flags.append(f"--horizon {args.horizon}")
    text, notes = scaffold.build(
        prof, tasks, " ".join(["mtlstm init", prof.source, *flags])
    )
    for note in notes:
        print(f"init: note: {note}", file=sys.stderr)
    if args.print_only:
        print(text, end="")
        return
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(
        f"init: wrote {out}: {len(prof.columns)} column(s) of {prof.source} on a "
        f"{prof.freq} grid, task(s) {', '.join(tasks)}; next: mtlstm check {out} "
        "&& dvc repro"
    )


def _check(args: argparse.Namespace) -> None:
    """Every problem of params.yaml and, when it parses, of its source data,
    raised together; warnings print and do not fail."""
    from mtlstm.config import ConfigProblems, load_ingest, load_params, problems_of
    from mtlstm.errors import ConfigError

    problems, params = [], None
    try:
        params = load_params(args.params)
    except ConfigError as exc:
        problems = problems_of(exc)
    # The data is read whenever the ingest settings alone are sound, so a
    # broken train section does not hide a problem in the source table.
    source = None if args.params_only else load_ingest(args.params)
    if source is not None:
        from mtlstm.ingest_chunks import check

        found, warnings = check(*source, args.params.resolve().parent)
        problems += found
        for warning in warnings:
            print(f"warning: check: {one_line(warning)}", file=sys.stderr)
    if problems:
        raise ConfigProblems(problems)
    print(f"{args.params}: ok ({len(params.tasks)} task(s): {', '.join(params.tasks)})")


def _compare(args: argparse.Namespace) -> None:
    from mtlstm import compare

    if args.experiments:
        runs = compare.read_runs(args.experiments)
    else:
        runs = {"workspace": compare.read_scores()}
    render = compare.render_spread if args.spread else compare.render
    sys.stdout.write(render(runs))


def _predict(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from mtlstm.io import write_csv
    from mtlstm.predict import about_input, forecast_frame, read_bundle
    from mtlstm.window import targets, transform

    _check_predict_args(args)
    bundle = read_bundle(args.bundle)
    # The input's errors name the file and say that the settings it is read
    # with are the bundle's (a params.yaml edit needs a retrain first); the
    # encoders' (a category never seen in training) come before the model is
    # loaded, too.
    with about_input(args.input):
        table, series, observed, ends = _input_windows(args, bundle)
        actuals = targets(table, bundle)
        scaled = transform(table, bundle)
    outputs = _run_model(args, bundle, scaled, ends, series)

    # Where the input already holds a target time, its value is the actual.
    frame = forecast_frame(
        bundle,
        table["time"],
        ends,
        outputs,
        actuals,
        np.where(observed, table["segment"].to_numpy(), -1),
        series=series,
    )
    write_csv(args.output, frame)
    # The latest origin: in a long table the last row's is the last series'.
    # Every origin has the same number of rows (origin, then task and step).
    latest = int(np.argmax(pd.DatetimeIndex(table["time"]).asi8[ends]))
    print(
        f"predict: {len(frame)} forecast(s) -> {args.output} (last origin "
        f"{frame['origin'].iloc[latest * (len(frame) // len(ends))]})"
    )


def _input_windows(args: argparse.Namespace, bundle: dict) -> tuple:
    """The input table read like the training source, each row's series code
    (None for one series), which rows are observed, and the forecast origins."""
    import numpy as np

    from mtlstm.predict import (
        check_every_series,
        future_origins,
        observed_rows,
        origins,
        read_input,
        short_last_segment_note,
    )
    from mtlstm.static import check_input as check_static_input
    from mtlstm.window import series_codes

    table, note = read_input(args.input, bundle, args.allow_partial_last_step)
    if note:
        print(f"predict: note: {note}", file=sys.stderr)
    # Many series: every row's code in the bundle (an unknown series is refused
    # here, before the model is loaded).
    series = series_codes(table, bundle) if "series" in bundle else None
    # With known-future inputs the table holds future rows after the observed
    # ones (after each series' last, mtlstm.predict): origins come from the
    # observed rows only, and a future row (a placeholder but for its
    # known-future columns) is never an actual: its segment is set apart.
    observed = observed_rows(table)
    at = np.flatnonzero(observed)  # observed row i is table row at[i]
    segment = table["segment"].to_numpy()
    ends = at[origins(segment[observed], bundle["lookback"], str(args.input))]
    if bundle.get("known_future"):
        steps = bundle["known_future"]["steps"]
        ends = future_origins(ends, segment, steps, str(args.input))
    if series is not None:
        names = bundle["series"]["names"]
        check_every_series(series, at, ends, names, bundle["lookback"], str(args.input))
    # Static attributes: the model embeds the codes it was trained with.
    check_static_input(table[observed], bundle, str(args.input))
    # A note, like a dropped partial step's: the forecasts from earlier origins
    # are still valid, but the newest one the user expects is missing.
    late = short_last_segment_note(
        table, observed, ends, bundle["lookback"], bundle["timezone"]
    )
    if late:
        print(f"predict: note: {late}", file=sys.stderr)
    return table, series, observed, ends


def _run_model(args, bundle, scaled, ends, series) -> dict:
    # TensorFlow only for this command: `mtlstm check` stays instant.
    from mtlstm.dataset import forecast_windows, input_names
    from mtlstm.predict import check_model_fits_bundle
    from mtlstm.tf_setup import load_model

    model = load_model(args.model, [t["name"] for t in bundle["tasks"]])
    window = next(t for t in model.inputs if t.name == "features")
    check_model_fits_bundle(window.shape, bundle, args.model, args.bundle)
    if ("known_future" in input_names(model)) != bool(bundle.get("known_future")):
        raise MtlstmError(
            f"{args.model} and {args.bundle} disagree on known-future inputs "
            "(features.known_future); use the bundle saved with the model"
        )
    embedded = series if "series" in input_names(model) else None
    return forecast_windows(model, scaled, ends, bundle, args.batch_size, embedded)


if __name__ == "__main__":
    sys.exit(main())
