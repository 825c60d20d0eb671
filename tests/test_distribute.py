"""train.distribute on CPU: mirrored over 2 logical CPUs, multi_worker over two
local processes on 127.0.0.1, and the errors and batch arithmetic around them.

Logical devices and collective ops must be set before TensorFlow initialises,
so the training runs happen in fresh processes: this file, run as a script,
is the worker (``python tests/test_distribute.py MODE OUT_DIR``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

TIMEOUT_S = 120  # per training process; a stuck collective must not hang CI
LOOKBACK, N_FEATURES, PER_REPLICA = 4, 3, 8
N_WINDOWS = 64  # 4 global batches of 2 x 8: every batch splits evenly
TASKS = [
    {"name": "demand", "type": "regression", "horizon": 1},
    {
        "name": "temp_class",
        "type": "classification",
        "horizon": 1,
        "classes": ["cold", "mild", "hot"],
    },
]
WEIGHTS = {"demand": 1.0, "temp_class": 0.5}


# --- in-process: no devices are split, no strategy with collectives is made ---


def test_unknown_kind_is_a_config_error():
    from mtlstm.distribute import make_strategy
    from mtlstm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.distribute is 'tpu'.*mirrored"):
        make_strategy("tpu")


@pytest.mark.parametrize(
    ("tf_config", "match"),
    [
        (None, r"needs the TF_CONFIG environment variable.*\"cluster\""),
        ("", r"needs the TF_CONFIG environment variable"),
        ("{not json", r"TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', r"lacks 'cluster' or 'task'"),
        (
            '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps"}}',
            r"names no entry of cluster",
        ),
    ],
    ids=["unset", "empty", "bad-json", "no-task", "task-not-in-cluster"],
)
def test_multi_worker_without_a_usable_tf_config_is_a_config_error(
    monkeypatch, tf_config, match
):
    from mtlstm.distribute import make_strategy
    from mtlstm.errors import ConfigError

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ConfigError, match=match):
        make_strategy("multi_worker")


def test_none_is_the_default_single_replica_strategy():
    import tensorflow as tf

    from mtlstm.distribute import global_batch_size, is_chief, make_strategy

    strategy = make_strategy("none")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert global_batch_size(32, strategy) == 32
    assert is_chief(strategy)


def test_global_batch_is_per_replica_batch_times_replicas():
    from mtlstm.distribute import global_batch_size
    from mtlstm.errors import ConfigError

    assert global_batch_size(8, SimpleNamespace(num_replicas_in_sync=2)) == 16
    assert global_batch_size(256, SimpleNamespace(num_replicas_in_sync=8)) == 2048
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        global_batch_size(0, SimpleNamespace(num_replicas_in_sync=2))


def test_shard_by_data_sets_the_data_policy():
    import tensorflow as tf

    from mtlstm.distribute import shard_by_data

    ds = shard_by_data(tf.data.Dataset.range(4).batch(2))
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    assert [b.tolist() for b in ds.as_numpy_iterator()] == [[0, 1], [2, 3]]


def test_split_cpu_after_tensorflow_started_is_a_config_error():
    import tensorflow as tf

    from mtlstm.distribute import split_cpu
    from mtlstm.errors import ConfigError

    have = len(tf.config.list_logical_devices("CPU"))  # initialises devices
    split_cpu(have)  # already so: nothing to do
    with pytest.raises(ConfigError, match="before any TensorFlow work"):
        split_cpu(have + 1)


def test_cudnn_blockers_pass_the_project_model_and_name_each_violation():
    import keras

    from mtlstm.distribute import cudnn_blockers
    from mtlstm.model import build_model

    model = build_model(N_FEATURES, LOOKBACK, TASKS, [8, 4], dropout=0.1)
    assert cudnn_blockers(model) == []
    inputs = keras.Input((LOOKBACK, N_FEATURES))
    lstm = keras.layers.LSTM(4, activation="relu", recurrent_dropout=0.2, name="l")
    found = cudnn_blockers(keras.Model(inputs, lstm(inputs)))
    assert found == [
        "l: activation='relu', cuDNN needs 'tanh'",
        "l: recurrent_dropout=0.2, cuDNN needs 0",
    ]


def test_shard_series_needs_multi_worker_and_a_panel(tmp_path, raw_params):
    from conftest import write_params

    from mtlstm.config import load_params
    from mtlstm.errors import ConfigError

    raw_params["train"]["shard"] = "series"
    with pytest.raises(
        ConfigError, match=r"train\.shard: series .*train\.distribute is 'none'"
    ):
        load_params(write_params(tmp_path, raw_params))
    raw_params["train"]["distribute"] = "multi_worker"
    with pytest.raises(ConfigError, match=r"train\.shard: series needs a panel"):
        load_params(write_params(tmp_path, raw_params))
    raw_params["ingest"]["series"] = ["region"]
    params = load_params(write_params(tmp_path, raw_params))
    assert params.train.shard == "series"
    raw_params["train"]["shard"] = "rows"
    with pytest.raises(ConfigError, match=r"train\.shard"):
        load_params(write_params(tmp_path, raw_params))


def test_series_shard_refuses_fewer_series_than_workers():
    from mtlstm.distribute import plan_series_shards
    from mtlstm.errors import ConfigError

    codes = np.zeros(20, np.int32)  # one series
    ends = np.arange(3, 19)
    with pytest.raises(
        ConfigError, match=r"train\.shard: series .* 1 series for 2 workers"
    ):
        plan_series_shards(codes, ends, ends, 2, 4, 1)


def test_series_shard_refuses_data_without_series(tmp_path):
    from mtlstm.distribute import load_series_shard
    from mtlstm.errors import ConfigError

    bundle = {"lookback": LOOKBACK, "tasks": TASKS, "n_rows": 10}
    with pytest.raises(ConfigError, match=r"train\.shard: series needs a panel"):
        load_series_shard(tmp_path, tmp_path, bundle, None, None)


def test_per_epoch_keeps_the_first_windows_of_each_shuffled_epoch():
    from mtlstm.dataset import make_dataset

    scaled = np.arange(40, dtype=np.float32).reshape(20, 2)
    targets = {"demand": np.arange(20, dtype=np.float32)}
    bundle = {"lookback": 2, "tasks": [TASKS[0]]}
    ends = np.arange(1, 19)
    ds = make_dataset(scaled, targets, ends, bundle, 4, 7, (0, 2), per_epoch=10)
    batches = [y["demand"][:, 0].numpy() - 1 for _, y in ds]  # target row e + 1
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    epochs = [np.concatenate(batches[:3]), np.concatenate(batches[3:])]
    full = make_dataset(scaled, targets, ends, bundle, 18, 7, (0, 2))
    for kept, (_, y) in zip(epochs, full, strict=True):
        # The first 10 of the same shuffled order; another 8 dropped each epoch.
        np.testing.assert_array_equal(kept, y["demand"][:10, 0].numpy() - 1)
    assert set(epochs[0]) != set(epochs[1])


def test_series_shards_are_balanced_contiguous_and_equal_in_size():
    from mtlstm.distribute import balanced_cuts, plan_series_shards
    from mtlstm.errors import DataError

    assert balanced_cuts(np.array([5, 5, 5, 5]), 2).tolist() == [0, 2, 4]
    assert balanced_cuts(np.array([1, 1, 1, 10]), 2).tolist() == [0, 3, 4]
    # Every run keeps a block even when one block holds all the weight.
    assert balanced_cuts(np.array([10, 0, 0, 0]), 4).tolist() == [0, 1, 2, 3, 4]
    codes, train, val = _panel()
    shards = plan_series_shards(codes, train, val, 2, LOOKBACK, 1)
    assert [s.codes for s in shards] == [(0, 1), (2, 3)]
    assert [s.rows for s in shards] == [(0, 70), (70, 130)]
    # Every row of each range is of its series, and ranges tile the rows.
    for s in shards:
        assert set(codes[slice(*s.rows)]) == set(range(s.codes[0], s.codes[1] + 1))
    assert [s.train[1] - s.train[0] for s in shards] == [43, 36]
    assert [s.val[1] - s.val[0] for s in shards] == [19, 16]
    # Every worker uses the smallest worker's counts.
    assert [(s.train_windows, s.val_windows) for s in shards] == [(36, 16)] * 2
    assert shards[0].steps(16) == 2 * 3  # 2 workers x ceil(36 / 16)
    with pytest.raises(
        DataError, match=r"run from 0 to 3 but preprocess\.json names 3"
    ):
        plan_series_shards(codes, train, val, 2, LOOKBACK, 1, n_series=3)
    # Codes of one series in two runs: rows not grouped by series.
    with pytest.raises(DataError, match="not contiguous"):
        plan_series_shards(np.array([0, 0, 1, 1, 0, 0]), train[:1], val[:1], 2, 1, 0)


# --- subprocesses: real training under a strategy ---


def test_mirrored_on_two_logical_cpus_trains_like_one_device_and_saves(tmp_path):
    _run_workers([_worker("mirrored", tmp_path)], tmp_path)
    result = json.loads((tmp_path / "result-0.json").read_text())
    assert result["replicas"] == 2
    assert result["global_batch"] == 2 * PER_REPLICA
    assert result["chief"] is True
    assert all(np.isfinite(result["loss"]))
    # Same global batches, same seed: 2 replicas x 8 == 1 device x 16, up to
    # float summation order.
    with (
        np.load(tmp_path / "weights-0.npz") as got,
        np.load(tmp_path / "weights-reference.npz") as want,
    ):
        assert len(got) == len(want)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)
    _check_saved_model(tmp_path / "model.keras")


def test_mirrored_uncertainty_weighting_trains_like_one_device(tmp_path):
    """train.loss_balancing: uncertainty under mirrored: each replica's task
    losses come divided by the replica count (Keras sums the replicas'
    gradients), so the log-variance term must be too, or every s_i is pulled
    towards log(L_i / replicas) instead of log(L_i)."""
    _run_workers([_worker("mirrored-uncertainty", tmp_path)], tmp_path)
    result = json.loads((tmp_path / "result-0.json").read_text())
    assert result["replicas"] == 2
    with (
        np.load(tmp_path / "weights-0.npz") as got,
        np.load(tmp_path / "weights-reference.npz") as want,
    ):
        assert len(got) == len(want)
        for key in want:  # the log-variances among them
            np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        result["weighted_loss"], result["reference_weighted_loss"], rtol=1e-4
    )


def test_mirrored_ablation_trains_its_single_task_model_at_the_global_batch(
    tmp_path, raw_params, monkeypatch
):
    """The ablation's single-task model keeps the multi-task model's budget:
    under train.distribute: mirrored it trains under the same strategy, 2
    replicas x batch_size 8 = global batches of 16, and forecasts like one
    device with batch_size 16 (dropout 0; 64 training windows, 16 validation
    windows: every batch splits evenly)."""
    _ablation_project(tmp_path, raw_params, monkeypatch)
    _run_workers([_worker("ablation-mirrored", tmp_path)], tmp_path)
    result = json.loads((tmp_path / "result-0.json").read_text())
    # One device at batch 16 (the reference), then the stage under mirrored.
    assert result["fits"] == [
        {"replicas": 1, "global_batch": 2 * PER_REPLICA},
        {"replicas": 2, "global_batch": 2 * PER_REPLICA},
    ]
    with np.load(tmp_path / "forecasts.npz") as saved:
        got, want = saved["mirrored"], saved["reference"]
        assert got.shape == want.shape and np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for metric, value in result["scores"]["reference"].items():
        assert result["scores"]["mirrored"][metric] == pytest.approx(value, rel=1e-4)


def test_mirrored_backtest_trains_each_fold_at_the_global_batch(tmp_path):
    """A backtest's folds keep the trained model's budget: under
    train.distribute: mirrored they train under the same strategy, 2 replicas
    x batch_size 8 = global batches of 16, in both modes (the last fold is the
    main split, which evaluate scores). They trained on one device, 8 windows
    a step, whatever train.distribute said."""
    _run_workers([_worker("backtest-mirrored", tmp_path)], tmp_path)
    result = json.loads((tmp_path / "result-0.json").read_text())
    mirrored = {"replicas": 2, "global_batch": 2 * PER_REPLICA}
    assert result["fits"] == {"retrain": [mirrored] * 2, "refit": [mirrored] * 2}
    for scores in result["scores"].values():
        assert all(np.isfinite(v) for by_metric in scores for v in by_metric.values())


def test_multi_worker_on_two_local_processes_trains_and_chief_saves(tmp_path):
    ports = _free_ports(2)
    workers = [f"127.0.0.1:{port}" for port in ports]
    _run_workers(
        [
            _worker("multi_worker", tmp_path, {"worker": workers}, index)
            for index in range(2)
        ],
        tmp_path,
    )
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in (0, 1)]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["global_batch"] for r in results] == [16, 16]
    assert [r["chief"] for r in results] == [True, False]
    assert results[0]["loss"] == results[1]["loss"]  # one synchronous run
    assert all(np.isfinite(results[0]["loss"]))
    with (
        np.load(tmp_path / "weights-0.npz") as w0,
        np.load(tmp_path / "weights-1.npz") as w1,
    ):
        for key in w0:  # gradients all-reduced: the workers never diverge
            np.testing.assert_array_equal(w0[key], w1[key])
    # Only the chief writes the model.
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["model.keras"]
    _check_saved_model(tmp_path / "model.keras")


def test_shard_series_gives_each_worker_its_own_series_only(tmp_path):
    codes, train, val = _panel()
    _write_panel(tmp_path, codes, train, val)
    ports = _free_ports(2)
    workers = [f"127.0.0.1:{port}" for port in ports]
    _run_workers(
        [_worker("series", tmp_path, {"worker": workers}, index) for index in (0, 1)],
        tmp_path,
    )
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in (0, 1)]
    scaled = np.load(tmp_path / "windows" / "scaled.npy")
    for i, (result, series) in enumerate(zip(results, [[0, 1], [2, 3]], strict=True)):
        start, stop = result["rows"]
        # The loaded rows are exactly this worker's series, copied from the file.
        assert result["series_loaded"] == series
        assert sorted(set(codes[start:stop].tolist())) == series
        assert stop - start < len(codes)
        np.testing.assert_array_equal(
            np.load(tmp_path / f"scaled-{i}.npy"), scaled[start:stop]
        )
        # Window ends as local rows: every window's rows lie in the copy.
        first, last = result["train_local"]
        assert first >= LOOKBACK - 1
        assert last + 1 < stop - start
    assert [r["rows"] for r in results] == [[0, 70], [70, 130]]
    # The same steps, the same (aggregated) losses on both: one synchronous run.
    assert results[0]["steps"] == results[1]["steps"] == 6
    epochs = [[e["keras"] for e in r["logs"]] for r in results]
    assert epochs[0] == epochs[1]
    assert len(epochs[0]) == 2
    # Keras aggregates validation metrics over every replica of every worker:
    # both read the mean of the workers' own values (equal counts: the mean
    # over all kept windows), not their own.
    for e0, e1 in zip(*(r["logs"] for r in results), strict=True):
        local = [e0["local_val_demand_mae"], e1["local_val_demand_mae"]]
        assert local[0] != local[1]
        assert e0["keras"]["val_demand_mae"] == pytest.approx(np.mean(local), 1e-5)
    assert all(np.isfinite(v) for logs in epochs[0] for v in logs.values())
    for i in (0, 1):  # validation ran its steps, not into the end of its data
        assert "ran out of data" not in (tmp_path / f"log-{i}.txt").read_text()
    # Balanced class weights counted over every training window, not a shard's.
    from mtlstm.model import training_class_weights

    with np.load(tmp_path / "windows" / "targets.npz") as targets:
        want = training_class_weights(
            SimpleNamespace(class_weighting="balanced"),
            {"tasks": TASKS},
            targets,
            train,
        )
    assert results[0]["class_weights"] == results[1]["class_weights"] == want
    with (
        np.load(tmp_path / "weights-0.npz") as w0,
        np.load(tmp_path / "weights-1.npz") as w1,
    ):
        for key in w0:
            np.testing.assert_array_equal(w0[key], w1[key])


def _check_saved_model(path: Path) -> None:
    import keras

    model = keras.models.load_model(path, safe_mode=True, compile=False)
    x = np.random.default_rng(1).normal(size=(5, LOOKBACK, N_FEATURES))
    out = model.predict(x.astype(np.float32), verbose=0)
    assert out["demand"].shape == (5, 1)
    assert out["temp_class"].shape == (5, 3)
    for values in out.values():
        assert np.isfinite(values).all()
    np.testing.assert_allclose(out["temp_class"].sum(axis=1), 1.0, rtol=1e-5)


def _free_ports(n: int) -> list[int]:
    """Ports the OS hands out for port 0, all held open at once so they differ;
    a tiny race remains until the workers bind them."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _worker(
    mode: str, out: Path, cluster: dict | None = None, index: int = 0
) -> subprocess.Popen:
    """Start ``python tests/test_distribute.py MODE OUT INDEX``, logging to
    ``OUT/log-INDEX.txt``."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # CPU only, so that mirrored means 2 logical CPUs on any host.
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    if cluster:
        task = {"type": "worker", "index": index}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
    with open(out / f"log-{index}.txt", "w") as log:  # the child keeps its copy
        return subprocess.Popen(
            [sys.executable, __file__, mode, str(out), str(index)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _run_workers(procs: list[subprocess.Popen], out: Path) -> None:
    """Wait for all within TIMEOUT_S; kill whatever is left, always."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pytest.fail(f"training did not finish within {TIMEOUT_S} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for index, proc in enumerate(procs):
        log = (out / f"log-{index}.txt").read_text()
        assert proc.returncode == 0, f"worker {index} failed:\n{log[-4000:]}"


# --- the worker, in its own process ---


def _train(
    strategy, batch: int, dropout: float, uncertainty: bool = False
) -> tuple[object, list[float]]:
    """Build and compile in the strategy's scope, fit 2 epochs of
    ``N_WINDOWS / batch`` steps, as ``training.fit`` would; ``uncertainty``:
    an ``UncertaintyWeightedModel``, whose loss is returned as its weighted
    total."""
    from mtlstm.balancing import WEIGHTED_LOSS, uncertainty_weighted
    from mtlstm.dataset import make_dataset, steps_per_epoch
    from mtlstm.distribute import shard_by_data
    from mtlstm.model import build_model, compile_model
    from mtlstm.tf_setup import make_deterministic

    seed = 0
    make_deterministic(seed)  # the same initial weights for every run
    rng = np.random.default_rng(0)
    n_rows = N_WINDOWS + LOOKBACK
    scaled = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    targets = {
        "demand": rng.normal(size=n_rows).astype(np.float32),
        "temp_class": rng.integers(0, 3, n_rows).astype(np.int32),
    }
    ends = np.arange(LOOKBACK - 1, n_rows - 1)
    val_ends = ends[:5]  # smaller than a global batch: splits unevenly
    bundle = {"lookback": LOOKBACK, "tasks": TASKS}
    with strategy.scope():
        model = build_model(N_FEATURES, LOOKBACK, TASKS, [8], dropout)
        if uncertainty:
            model = uncertainty_weighted(model)
        compile_model(model, TASKS, WEIGHTS, 0.01)
    train = make_dataset(scaled, targets, ends, bundle, batch, seed, (0, 2))
    val = make_dataset(scaled, targets, val_ends, bundle, batch)
    history = model.fit(
        shard_by_data(train),
        validation_data=shard_by_data(val),
        epochs=2,
        steps_per_epoch=steps_per_epoch(len(ends), batch),
        verbose=0,
    )
    key = WEIGHTED_LOSS if uncertainty else "loss"
    return model, [float(v) for v in history.history[key]]


SERIES_ROWS = [30, 40, 26, 34]  # 4 series, rows grouped by series


def _panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series codes per row, and per series its first 70% of windows (lookback
    4, horizon 1) for training, the rest for validation."""
    codes = np.repeat(np.arange(4, dtype=np.int32), SERIES_ROWS)
    starts = np.cumsum([0, *SERIES_ROWS[:-1]])
    train, val = [], []
    for start, n in zip(starts, SERIES_ROWS, strict=True):
        ends = np.arange(start + LOOKBACK - 1, start + n - 1)
        cut = int(0.7 * len(ends))
        train.append(ends[:cut])
        val.append(ends[cut:])
    return codes, np.concatenate(train), np.concatenate(val)


def _write_panel(out: Path, codes, train, val) -> None:
    """The window and split stages' files for ``_panel``."""
    rng = np.random.default_rng(0)
    n = len(codes)
    (out / "windows").mkdir()
    (out / "split").mkdir()
    np.save(
        out / "windows" / "scaled.npy",
        rng.normal(size=(n, N_FEATURES)).astype(np.float32),
    )
    np.save(out / "windows" / "series.npy", codes)
    np.savez(
        out / "windows" / "targets.npz",
        demand=rng.normal(size=n).astype(np.float32),
        temp_class=rng.integers(0, 3, n).astype(np.int32),
    )
    bundle = {
        "lookback": LOOKBACK,
        "max_horizon": 1,
        "n_rows": n,
        "tasks": TASKS,
        "series": {"names": ["a", "b", "c", "d"], "scaling": "global"},
    }
    (out / "windows" / "preprocess.json").write_text(json.dumps(bundle))
    np.save(out / "split" / "train.npy", train)
    np.save(out / "split" / "val.npy", val)


def _series_worker(strategy, out: Path, index: int, killed: bool = False) -> None:
    """train.shard: series through the stage's functions: load this worker's
    series, fit with training.fit, record what was loaded and every epoch's logs.
    ``killed``: the process dies (as if killed) once epoch 0 is checkpointed."""
    import keras

    from mtlstm.config import Train
    from mtlstm.distribute import global_batch_size, load_series_shard
    from mtlstm.io import read_json
    from mtlstm.model import make_model
    from mtlstm.tf_setup import make_deterministic
    from mtlstm.training import fit

    class Logs(keras.callbacks.Callback):
        """Keras's logs per epoch, and this worker's own validation MAE of
        demand (its windows only, computed here, not aggregated)."""

        def __init__(self, inputs: dict, demand: np.ndarray) -> None:
            super().__init__()
            self.inputs, self.demand = inputs, demand
            self.epochs: list[dict] = []

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            # float64 from here on: a plain float for json.
            pred = self.model(self.inputs, training=False)["demand"]
            error = np.abs(np.asarray(pred, np.float64)[:, 0] - self.demand)
            self.epochs.append({"keras": logs, "local_val_demand_mae": error.mean()})
            if killed:
                os._exit(9)

    make_deterministic(0)
    bundle = read_json(out / "windows" / "preprocess.json")
    cfg = Train(
        loss_weights=WEIGHTS,
        distribute="multi_worker",
        shard="series",
        layers=[8],
        batch_size=PER_REPLICA,
        epochs=2,
        class_weighting="balanced",
        series_embedding=2,
    )
    arrays, weights = load_series_shard(
        out / "windows", out / "split", bundle, strategy, cfg
    )
    shard = arrays["shard"]
    np.save(out / f"scaled-{index}.npy", arrays["scaled"])
    result = {
        "rows": list(shard.rows),
        "series_loaded": sorted(set(arrays["series"].tolist())),
        "train_local": [int(arrays["train"].min()), int(arrays["train"].max())],
        "steps": shard.steps(global_batch_size(cfg.batch_size, strategy)),
        "class_weights": weights,
    }
    with strategy.scope():
        model = make_model(cfg, bundle, arrays["scaled"].shape[1], weights)
    dirs = {"live": None, "resume": out / f"resume-{index}"}
    val = arrays["val"]
    inputs = {
        "features": arrays["scaled"][val[:, None] + np.arange(1 - LOOKBACK, 1)],
        "series": arrays["series"][val],
    }
    logs = Logs(inputs, arrays["targets"]["demand"][val + 1])
    model, _ = fit(model, cfg, 0, arrays, bundle, dirs, "fp", strategy, extra=[logs])
    _save_weights(model, out / f"weights-{index}.npz")
    result["logs"] = logs.epochs
    (out / f"result-{index}.json").write_text(json.dumps(result))


def test_a_rerun_where_only_the_chief_has_a_checkpoint_starts_over(tmp_path):
    """Only the chief writes checkpoints, so on separate hosts (here: each
    worker its own resume folder) a killed run left one on the chief alone. The
    rerun loaded it there only, and the workers' collectives failed ("Collective
    instance ... expected type"). The workers now see that their checkpoints
    differ and both train from the start, in step."""
    codes, train, val = _panel()
    _write_panel(tmp_path, codes, train, val)
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    killed = [
        _worker("series-killed", tmp_path, {"worker": workers}, index)
        for index in (0, 1)
    ]
    try:
        for proc in killed:
            proc.wait(timeout=TIMEOUT_S)
    finally:
        for proc in killed:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (tmp_path / "resume-0" / "state.json").is_file()
    assert not (tmp_path / "resume-1" / "state.json").exists()

    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    _run_workers(
        [_worker("series", tmp_path, {"worker": workers}, i) for i in (0, 1)],
        tmp_path,
    )
    for index in (0, 1):
        log = (tmp_path / f"log-{index}.txt").read_text()
        assert "checkpoints differ (only the chief writes them" in log
        assert "training from the start" in log
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in (0, 1)]
    assert [len(r["logs"]) for r in results] == [2, 2]
    with (
        np.load(tmp_path / "weights-0.npz") as w0,
        np.load(tmp_path / "weights-1.npz") as w1,
    ):
        for key in w0:
            np.testing.assert_array_equal(w0[key], w1[key])


def _ablation_project(tmp_path: Path, raw: dict, monkeypatch) -> None:
    """A project in ``tmp_path`` run to the split stage (no TensorFlow), whose
    params give the ablation a tiny model (dropout 0) under mirrored with
    batch_size PER_REPLICA; the split is cut to 64 train and 16 val windows."""
    import runpy

    from conftest import STAGES, make_project, synthetic_table

    raw["ingest"]["source"] = "data/raw/load.csv"
    raw["window"]["lookback"] = LOOKBACK
    raw["train"].update(
        distribute="mirrored",
        layers=[8],
        dropout=0.0,
        batch_size=PER_REPLICA,
        epochs=2,
        learning_rate=0.01,
        checkpoint_average=1,
        ensemble=1,
    )
    make_project(tmp_path, raw)
    table = synthetic_table(200).rename(columns={"time": "Time"})
    table.to_csv(tmp_path / "data" / "raw" / "load.csv", index=False)
    monkeypatch.chdir(tmp_path)
    for stage in ("ingest", "window", "split"):
        runpy.run_path(str(STAGES / f"{stage}.py"))["main"]()
    split = tmp_path / "data" / "split"
    for name, keep in (("train", N_WINDOWS), ("val", 2 * PER_REPLICA)):
        ends = np.load(split / f"{name}.npy")
        assert len(ends) >= keep, (name, len(ends))
        np.save(split / f"{name}.npy", ends[:keep])


def _ablation_worker(out: Path) -> None:
    """stages/ablation.py's train_and_score for task demand, twice: with
    train.distribute none and batch 2 x PER_REPLICA (the reference), then with
    params.yaml's mirrored at PER_REPLICA; records the strategy each fit ran
    under (a spy on training.fit_member_groups), the forecasts and the scores."""
    import dataclasses
    import importlib.util

    from mtlstm.config import load_params
    from mtlstm.io import read_json

    os.chdir(out)
    path = Path(__file__).resolve().parents[1] / "stages" / "ablation.py"
    spec = importlib.util.spec_from_file_location("stage_ablation_under_test", path)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)

    fits = spy_on_fits()  # the stage imports fit_member_groups when it trains
    params = load_params()
    bundle = read_json(stage.WINDOWS / "preprocess.json")
    single = {**bundle, "tasks": [t for t in bundle["tasks"] if t["name"] == "demand"]}
    one = dataclasses.replace(
        params.train, distribute="none", batch_size=2 * PER_REPLICA
    )
    scores, forecasts = {}, {}
    for name, run in (
        ("reference", dataclasses.replace(params, train=one)),
        ("mirrored", params),
    ):
        scores[name], forecast = stage.train_and_score(run, single)
        forecasts[name] = forecast["forecast"]
    np.savez(out / "forecasts.npz", **forecasts)
    result = {"fits": fits, "scores": scores}
    (out / "result-0.json").write_text(json.dumps(result))


def _backtest_worker(out: Path) -> None:
    """stages/backtest.py's FoldTrainer over two folds of 300 synthetic hours,
    in mode retrain and then refit, with params.yaml's train.* made tiny under
    mirrored at PER_REPLICA; records the strategy each fold's fit ran under (a
    spy on training.fit_member_groups) and the folds' scores."""
    import dataclasses
    import importlib.util

    import pandas as pd

    from mtlstm import backtest
    from mtlstm.config import Backtest, load_params

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    from conftest import synthetic_table

    params = load_params(root / "params.yaml")
    train = dataclasses.replace(
        params.train,
        distribute="mirrored",
        layers=[4],
        batch_size=PER_REPLICA,
        epochs=1,
        ensemble=1,
        checkpoint_average=1,
    )
    params = dataclasses.replace(params, train=train)
    os.chdir(out)  # the folds' checkpoints go under models/
    data = synthetic_table(300).assign(segment=np.zeros(300, dtype=np.int32))
    (out / "data").mkdir()
    data.to_parquet(out / "data" / "ingested.parquet")  # fingerprinted
    path = root / "stages" / "backtest.py"
    spec = importlib.util.spec_from_file_location("stage_backtest_under_test", path)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)

    fits = spy_on_fits()  # the stage imports fit_member_groups when it trains
    result: dict = {"fits": {}, "scores": {}}
    for mode in ("retrain", "refit"):
        cfg = Backtest(folds=2, mode=mode)
        trainer = stage.FoldTrainer(params, mode, cfg, pd.Series(data["time"]))
        run = backtest.run(data, params, cfg, trainer, freq="1h")
        result["fits"][mode], fits[:] = list(fits), []
        result["scores"][mode] = [s for f in run["folds"] for s in f["scores"].values()]
    (out / "result-0.json").write_text(json.dumps(result))


def _save_weights(model, path: Path) -> None:
    np.savez(path, **{f"w{i}": w for i, w in enumerate(model.get_weights())})


def spy_on_fits() -> list[dict]:
    """Wrap ``training.fit_member_groups`` (in this process) to record each
    fit's replica count and global batch; returns the list it fills."""
    import tensorflow as tf

    from mtlstm import training
    from mtlstm.distribute import global_batch_size

    fits, fit_member_groups = [], training.fit_member_groups

    def spy(build, cfg, seed, arrays, bundle, dirs, fingerprint, strategy=None, **kw):
        used = strategy or tf.distribute.get_strategy()
        fits.append(
            {
                "replicas": used.num_replicas_in_sync,
                "global_batch": global_batch_size(cfg.batch_size, used),
            }
        )
        return fit_member_groups(
            build, cfg, seed, arrays, bundle, dirs, fingerprint, strategy, **kw
        )

    training.fit_member_groups = spy
    return fits


def _worker_main(mode: str, out: Path, index: int) -> None:
    from mtlstm import distribute

    if mode == "ablation-mirrored":
        distribute.split_cpu(2)  # before anything starts TensorFlow
        _ablation_worker(out)
        return
    if mode == "backtest-mirrored":
        distribute.split_cpu(2)  # before anything starts TensorFlow
        _backtest_worker(out)
        return
    if mode == "mirrored-uncertainty":
        distribute.split_cpu(2)
        strategy = distribute.make_strategy("mirrored")
        import tensorflow as tf

        one = tf.distribute.get_strategy()
        reference, want = _train(one, 16, dropout=0.0, uncertainty=True)
        _save_weights(reference, out / "weights-reference.npz")
        model, got = _train(strategy, 16, dropout=0.0, uncertainty=True)
        _save_weights(model, out / "weights-0.npz")
        result = {
            "replicas": strategy.num_replicas_in_sync,
            "weighted_loss": got,
            "reference_weighted_loss": want,
        }
        (out / "result-0.json").write_text(json.dumps(result))
        return
    if mode == "mirrored":
        distribute.split_cpu(2)  # before anything starts TensorFlow
    if mode in ("series", "series-killed"):
        strategy = distribute.make_strategy("multi_worker")
        _series_worker(strategy, out, index, killed=mode == "series-killed")
        return
    strategy = distribute.make_strategy(mode)  # first: collectives, devices
    if mode == "mirrored":
        import tensorflow as tf

        # One device, the same global batch: what mirrored must reproduce.
        reference, _ = _train(tf.distribute.get_strategy(), 16, dropout=0.0)
        _save_weights(reference, out / "weights-reference.npz")
    # Dropout is on for multi_worker: its seed state must work across workers.
    dropout = 0.1 if mode == "multi_worker" else 0.0
    batch = distribute.global_batch_size(PER_REPLICA, strategy)
    model, loss = _train(strategy, batch, dropout)
    chief = distribute.is_chief(strategy)
    if chief:
        model.save(out / "model.keras")
    _save_weights(model, out / f"weights-{index}.npz")
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "global_batch": batch,
        "chief": chief,
        "loss": loss,
    }
    (out / f"result-{index}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    _worker_main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
