"""The ``mtlstm`` command: ``mtlstm check`` and ``mtlstm predict``.

User errors print one line (what, where, how to fix) and exit 2, never a bare
traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtlstm.errors import MtlstmError, one_line, report_bug


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except MtlstmError as exc:
        print(f"error: {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        return report_bug(args.command, exc)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtlstm",
        description="Check params.yaml, or forecast with a trained mtlstm model.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate params.yaml against the schema")
    check.add_argument("params", nargs="?", default="params.yaml", type=Path)
    check.set_defaults(run=_check)
    predict = sub.add_parser("predict", help="forecast from new data")
    predict.add_argument("--model", type=Path, default=Path("models/model.keras"))
    predict.add_argument("--bundle", type=Path, default=Path("models/preprocess.json"))
    predict.add_argument("--input", type=Path, required=True, help="CSV or Parquet")
    predict.add_argument("--output", type=Path, required=True, help="CSV to write")
    predict.add_argument(
        "--force", action="store_true", help="replace --output if it exists"
    )
    predict.add_argument("--batch-size", type=int, default=1024)
    predict.add_argument(
        "--allow-partial-last-step",
        action="store_true",
        help="forecast from a last grid step that holds fewer source rows than a "
        "complete one (by default it is dropped, with a note)",
    )
    predict.set_defaults(run=_predict)
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


def _check(args: argparse.Namespace) -> None:
    from mtlstm.config import load_params

    params = load_params(args.params)
    print(f"{args.params}: ok ({len(params.tasks)} task(s): {', '.join(params.tasks)})")


def _predict(args: argparse.Namespace) -> None:
    from mtlstm.io import read_json, write_csv
    from mtlstm.predict import forecast_frame, origins, read_input

    _check_predict_args(args)
    if not args.bundle.is_file():
        raise MtlstmError(f"{args.bundle}: bundle not found; run `dvc repro train`")
    bundle = read_json(args.bundle)
    table, note = read_input(args.input, bundle, args.allow_partial_last_step)
    if note:
        print(f"predict: note: {note}", file=sys.stderr)
    ends = origins(table["segment"].to_numpy(), bundle["lookback"], str(args.input))
    outputs = _run_model(args, bundle, table, ends)
    from mtlstm.window import targets

    # Where the input already holds a target time, its value is the actual.
    frame = forecast_frame(
        bundle,
        table["time"],
        ends,
        outputs,
        targets(table, bundle),
        table["segment"].to_numpy(),
    )
    write_csv(args.output, frame)
    print(
        f"predict: {len(frame)} forecast(s) -> {args.output} (last origin "
        f"{frame['origin'].iloc[-1]})"
    )


def _run_model(args, bundle, table, ends) -> dict:
    # TensorFlow only for this command: `mtlstm check` stays instant.
    from mtlstm.dataset import make_input_dataset
    from mtlstm.tf_setup import load_model
    from mtlstm.window import transform

    model = load_model(args.model, [t["name"] for t in bundle["tasks"]])
    scaled = transform(table, bundle)
    ds = make_input_dataset(scaled, ends, bundle["lookback"], args.batch_size)
    return model.predict(ds, verbose=0)


if __name__ == "__main__":
    sys.exit(main())
