"""The Keras side on tiny sizes: model shape per task, windows, loading, weights."""

from __future__ import annotations

import importlib.util
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT

from mtlstm import resume
from mtlstm.dataset import make_dataset, make_input_dataset
from mtlstm.errors import ConfigError, DataError
from mtlstm.io import load_npy, write_json, write_npy
from mtlstm.model import build_model, compile_model
from mtlstm.tf_setup import load_model

REG = {"name": "demand", "type": "regression", "horizon": 1}
CLS3 = {
    "name": "temp_class",
    "type": "classification",
    "horizon": 1,
    "classes": ["cold", "mild", "hot"],
}
CLS4 = {
    "name": "season",
    "type": "classification",
    "horizon": 2,
    "classes": ["winter", "spring", "summer", "autumn"],
}
LOOKBACK, N_FEATURES = 5, 3


def _model(tasks, layers=(8,), dropout=0.0):
    return build_model(N_FEATURES, LOOKBACK, list(tasks), list(layers), dropout)


def _weights(tasks, value=1.0):
    return {t["name"]: value for t in tasks}


@pytest.mark.parametrize(
    "tasks",
    [[REG], [REG, CLS3], [REG, CLS3, CLS4]],
    ids=["1-task", "2-tasks", "3-tasks-two-classifiers"],
)
def test_one_named_head_per_task_with_its_output_shape(tasks):
    model = _model(tasks)
    compile_model(model, tasks, _weights(tasks), 0.01)
    names = [t["name"] for t in tasks]
    assert sorted(model.output_names) == sorted(names)
    expected = {t["name"]: len(t.get("classes", [None])) for t in tasks}
    for name, width in expected.items():
        head = model.get_layer(name)  # the head layer is named after the task
        assert isinstance(head, keras.layers.Dense)
        assert head.output.shape == (None, width)
    out = model.predict(np.zeros((2, LOOKBACK, N_FEATURES), np.float32), verbose=0)
    assert set(out) == set(names)
    for name, width in expected.items():
        assert out[name].shape == (2, width)
        if width > 1:  # softmax probabilities
            np.testing.assert_allclose(out[name].sum(axis=1), 1.0, rtol=1e-5)


def test_compiled_model_trains_one_step_on_a_dict_of_targets():
    tasks = [REG, CLS3, CLS4]
    model = _model(tasks)
    compile_model(model, tasks, {"demand": 1.0, "temp_class": 0.5, "season": 0.0}, 0.01)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, LOOKBACK, N_FEATURES)).astype(np.float32)
    y = {
        "demand": rng.normal(size=(8, 1)).astype(np.float32),
        "temp_class": rng.integers(0, 3, 8).astype(np.int32),
        "season": rng.integers(0, 4, 8).astype(np.int32),
    }
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert {"demand_mae", "temp_class_accuracy", "season_accuracy"} <= set(logs)


@pytest.mark.parametrize("layers", [[8], [8, 4], [8, 6, 4]])
def test_layers_param_stacks_lstms_all_but_last_returning_sequences(layers):
    model = _model([REG], layers=layers, dropout=0.1)
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.units for layer in lstms] == layers
    assert [layer.return_sequences for layer in lstms] == [True] * (len(layers) - 1) + [
        False
    ]
    dropouts = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert len(dropouts) == len(layers)


@pytest.mark.parametrize("layers", [[8], [8, 6]])
def test_task_lstm_gives_each_task_its_own_lstm_over_the_trunks_sequence(layers):
    tasks = [REG, CLS3]
    model = build_model(N_FEATURES, LOOKBACK, tasks, layers, 0.1, task_lstm=5)
    trunk = [model.get_layer(f"trunk_lstm_{i}") for i in range(len(layers))]
    # Every trunk layer returns its sequence: the tasks' layers read every step.
    assert [layer.return_sequences for layer in trunk] == [True] * len(layers)
    for task in tasks:
        own = model.get_layer(f"{task['name']}_lstm")
        assert (own.units, own.return_sequences) == (5, False)
        # Its input is the last trunk layer's (dropped-out) sequence.
        assert tuple(own.input.shape) == (None, LOOKBACK, layers[-1])
        kernel, recurrent, bias = (w.shape for w in own.get_weights())
        assert (kernel, recurrent, bias) == ((layers[-1], 20), (5, 20), (20,))
    # Nothing else is recurrent: the shared layers and one per task.
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert len(lstms) == len(layers) + len(tasks)
    compile_model(model, tasks, _weights(tasks), 0.01)
    out = model.predict(np.zeros((2, LOOKBACK, N_FEATURES), np.float32), verbose=0)
    assert out["demand"].shape == (2, 1) and out["temp_class"].shape == (2, 3)


def test_task_lstm_zero_builds_the_model_without_it():
    """task_lstm 0 is the shared-trunk model, layer for layer and weight for
    weight (the same seed draws the same initial weights)."""
    keras.utils.set_random_seed(3)
    plain = build_model(N_FEATURES, LOOKBACK, [REG, CLS3], [8], 0.0)
    keras.utils.set_random_seed(3)
    zero = build_model(N_FEATURES, LOOKBACK, [REG, CLS3], [8], 0.0, task_lstm=0)
    assert [layer.name for layer in zero.layers] == [
        layer.name for layer in plain.layers
    ]
    assert not any(layer.name.endswith("_lstm") for layer in zero.layers)
    for a, b in zip(plain.get_weights(), zero.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_task_lstm_zero_joins_the_extra_inputs_to_the_trunk_as_before():
    """With extra inputs too, task_lstm 0 is the model built before task_lstm
    existed: these layers and weights, in this order (read off that model), so
    the saved file and the seed's initial weights stay as they were."""
    model = build_model(
        N_FEATURES,
        LOOKBACK,
        [REG, CLS3],
        [8],
        0.1,
        4,
        known_future=(1, 2),
        series=(3, 2),
        task_lstm=0,
    )
    assert [layer.name for layer in model.layers] == [
        "features",
        "trunk_lstm_0",
        "known_future",
        "series",
        "trunk_dropout_0",
        "known_future_flat",
        "series_embedding",
        "trunk_and_known",
        "demand_hidden",
        "temp_class_hidden",
        "demand",
        "temp_class",
    ]
    assert [w.path for w in model.weights] == [
        "trunk_lstm_0/lstm_cell/kernel",
        "trunk_lstm_0/lstm_cell/recurrent_kernel",
        "trunk_lstm_0/lstm_cell/bias",
        "series_embedding/embeddings",
        "demand_hidden/kernel",
        "demand_hidden/bias",
        "temp_class_hidden/kernel",
        "temp_class_hidden/bias",
        "demand/kernel",
        "demand/bias",
        "temp_class/kernel",
        "temp_class/bias",
    ]
    assert model.get_layer("trunk_and_known").output.shape == (None, 8 + 2 + 2)


def test_task_lstm_joins_the_known_future_inputs_to_each_tasks_own_output():
    tasks = [REG, CLS3]
    model = build_model(
        N_FEATURES, LOOKBACK, tasks, [8], 0.0, known_future=(1, 2), task_lstm=4
    )
    for task in tasks:
        joined = model.get_layer(f"{task['name']}_and_known")
        # 4 from the task's own LSTM, 1 step x 2 known-future columns.
        assert tuple(joined.output.shape) == (None, 6)
    assert "trunk_and_known" not in [layer.name for layer in model.layers]
    out = model.predict(
        {
            "features": np.zeros((2, LOOKBACK, N_FEATURES), np.float32),
            "known_future": np.zeros((2, 1, 2), np.float32),
        },
        verbose=0,
    )
    assert out["temp_class"].shape == (2, 3)


@pytest.mark.parametrize("task_lstm", [0, 4])
def test_a_task_named_trunk_builds_with_or_without_task_lstm(task_lstm):
    """config lets a task be named trunk: its trunk_and_known (task_lstm > 0)
    and the trunk's own join (task_lstm 0) are never in one model."""
    tasks = [{**REG, "name": "trunk"}, CLS3]
    model = build_model(
        N_FEATURES, LOOKBACK, tasks, [8], 0.0, known_future=(1, 2), task_lstm=task_lstm
    )
    joined = model.get_layer("trunk_and_known")
    # The trunk's 8 (task_lstm 0) or the task's own 4, and 1 x 2 known columns.
    assert tuple(joined.output.shape) == (None, (task_lstm or 8) + 2)
    assert model.get_layer("trunk").output.shape == (None, 1)


def test_no_dropout_layers_when_dropout_is_zero():
    model = _model([REG], layers=[8, 4], dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize(
    "weights",
    [{"demand": 1.0}, {"demand": 1.0, "temp_class": 1.0, "typo": 1.0}],
    ids=["missing", "unknown"],
)
def test_loss_weights_must_name_exactly_the_tasks(weights):
    tasks = [REG, CLS3]
    model = _model(tasks)
    with pytest.raises(ValueError, match=r"loss_weights keys .*demand") as info:
        compile_model(model, tasks, weights, 0.01)
    message = str(info.value)
    assert str(sorted(weights)) in message
    assert "['demand', 'temp_class']" in message


# ---------------------------------------------------------------- make_dataset

SCALED = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
TARGETS = {
    "demand": (np.arange(10) * 10.0).astype(np.float32),
    "temp_class": (np.arange(10) % 3).astype(np.int32),
}
DS_TASKS = [
    {"name": "demand", "type": "regression", "horizon": 1},
    {"name": "temp_class", "type": "classification", "horizon": 2},
]
BUNDLE = {"lookback": 3, "tasks": DS_TASKS}
ENDS = np.arange(2, 8, dtype=np.int64)  # e - 2 >= 0 and e + 2 <= 9


def _collect(ds):
    xs, ys = [], {t["name"]: [] for t in DS_TASKS}
    for x, y in ds:
        xs.append(x.numpy())
        for name in ys:
            ys[name].append(y[name].numpy())
    return np.concatenate(xs), {k: np.concatenate(v) for k, v in ys.items()}


def test_window_ending_at_row_e_reads_rows_e_minus_lookback_plus_1_to_e():
    ds = make_dataset(SCALED, TARGETS, ENDS, BUNDLE, batch_size=4)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    x0, y0 = batches[0]
    assert x0.shape == (4, 3, 2)
    assert y0["demand"].shape == (4, 1)  # regression: (batch, 1)
    assert y0["temp_class"].shape == (4,)  # classification: (batch,)
    assert y0["temp_class"].dtype.name == "int32"
    x, y = _collect(ds)
    for i, e in enumerate(ENDS):
        np.testing.assert_array_equal(x[i], SCALED[e - 2 : e + 1])
        assert y["demand"][i, 0] == TARGETS["demand"][e + 1]
        assert y["temp_class"][i] == TARGETS["temp_class"][e + 2]


def test_input_dataset_yields_the_same_windows_without_targets():
    (x,) = list(make_input_dataset(SCALED, ENDS, BUNDLE, batch_size=8))
    ((x_train, _),) = list(make_dataset(SCALED, TARGETS, ENDS, BUNDLE, batch_size=8))
    assert x.shape == (6, 3, 2)
    np.testing.assert_array_equal(x.numpy(), x_train.numpy())


def test_seeded_shuffle_is_a_permutation_and_repeats_with_the_seed():
    def order(seed):
        ds = make_dataset(
            SCALED, TARGETS, ENDS, BUNDLE, batch_size=4, shuffle_seed=seed
        )
        x, y = _collect(ds)
        # Window end = last input row's first value / 2 (SCALED[e, 0] == 2 e).
        ends = (x[:, -1, 0] / 2).astype(int)
        # Targets stay paired with their window.
        np.testing.assert_array_equal(y["demand"][:, 0], TARGETS["demand"][ends + 1])
        return ends

    first, again = order(7), order(7)
    assert sorted(first) == ENDS.tolist()
    np.testing.assert_array_equal(first, again)
    unshuffled = make_dataset(SCALED, TARGETS, ENDS, BUNDLE, batch_size=4)
    x, _ = _collect(unshuffled)
    np.testing.assert_array_equal((x[:, -1, 0] / 2).astype(int), ENDS)


def _end_rows(ds) -> list[list[int]]:
    """Each batch's window end rows (SCALED[e, 0] == 2 e)."""
    return [(x[:, -1, 0].numpy() / 2).astype(int).tolist() for x, _ in ds]


@pytest.mark.parametrize("batch_size", [1, 4, 6, 8])
def test_batches_are_consecutive_slices_of_each_epochs_order(batch_size):
    plain = _end_rows(make_dataset(SCALED, TARGETS, ENDS, BUNDLE, batch_size))
    expected = [ENDS[i : i + batch_size].tolist() for i in range(0, 6, batch_size)]
    assert plain == expected
    shuffled = _end_rows(
        make_dataset(SCALED, TARGETS, ENDS, BUNDLE, batch_size, 3, (0, 2))
    )
    assert [len(b) for b in shuffled] == [len(b) for b in expected] * 2


def test_tensor_inputs_give_the_same_batches_and_resume_mid_run():
    tensors = tf.constant(SCALED), {k: tf.constant(v) for k, v in TARGETS.items()}
    run = make_dataset(SCALED, TARGETS, ENDS, BUNDLE, 4, 9, (0, 3))
    shared = make_dataset(*tensors, ENDS, BUNDLE, 4, 9, (0, 3))
    resumed = make_dataset(*tensors, ENDS, BUNDLE, 4, 9, (1, 3))
    for a, b in zip(run, shared, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        for name in TARGETS:
            np.testing.assert_array_equal(a[1][name], b[1][name])
    assert _end_rows(resumed) == _end_rows(run)[2:]  # 2 batches per epoch


def test_memory_mapped_arrays_give_the_same_batches(tmp_path):
    """load_npy(mmap=True) arrays are gathered from in place: the same batches."""
    for name, values in {"scaled": SCALED, "ends": ENDS, **TARGETS}.items():
        write_npy(tmp_path / f"{name}.npy", values)
    mapped = {n: load_npy(tmp_path / f"{n}.npy", mmap=True) for n in TARGETS}
    scaled = load_npy(tmp_path / "scaled.npy", mmap=True)
    ends = load_npy(tmp_path / "ends.npy", mmap=True)
    run = make_dataset(SCALED, TARGETS, ENDS, BUNDLE, 4, 9, (0, 2))
    from_maps = make_dataset(scaled, mapped, ends, BUNDLE, 4, 9, (0, 2))
    for a, b in zip(run, from_maps, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        for name in TARGETS:
            np.testing.assert_array_equal(a[1][name], b[1][name])
    inputs = make_input_dataset(scaled, ends, BUNDLE, 4)
    np.testing.assert_array_equal(
        np.concatenate(list(inputs)), SCALED[ENDS[:, None] + np.arange(-2, 1)]
    )


def test_an_end_row_without_a_full_lookback_is_refused():
    # NumPy would wrap row -1 around to the last row instead of failing.
    with pytest.raises(ValueError, match="end row 1 has fewer than lookback=3"):
        make_dataset(SCALED, TARGETS, np.array([1, 5]), BUNDLE, 4)


# ------------------------------------------------------------------ load_model


def _saved(tmp_path, tasks):
    model = _model(tasks)
    path = tmp_path / "model.keras"
    model.save(path)
    return path


def test_load_model_round_trip(tmp_path):
    path = _saved(tmp_path, [REG, CLS3])
    model = load_model(path, ["temp_class", "demand"])
    assert sorted(model.output_names) == ["demand", "temp_class"]


def test_load_model_rejects_a_truncated_file(tmp_path):
    path = _saved(tmp_path, [REG])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt"):
        load_model(path, ["demand"])


def test_load_model_rejects_garbage(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(DataError, match="corrupt"):
        load_model(path, ["demand"])


def test_load_model_missing_file_says_run_train(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_model(tmp_path / "absent.keras", ["demand"])


def test_load_model_rejects_heads_that_differ_from_the_tasks(tmp_path):
    path = _saved(tmp_path, [REG, CLS3])
    with pytest.raises(DataError, match=r"heads \['demand', 'temp_class'\]") as info:
        load_model(path, ["demand", "season"])
    assert "['demand', 'season']" in str(info.value)


# --------------------------------------------------- stages/train.check_weights


def _train_stage():
    spec = importlib.util.spec_from_file_location(
        "stage_train_under_test", ROOT / "stages" / "train.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_check_weights_rejects_tasks_that_differ_from_the_windows():
    check_weights = _train_stage().check_weights
    check_weights({"demand": 1.0, "temp_class": 0.5}, ["temp_class", "demand"])
    with pytest.raises(ConfigError, match=r"\['demand', 'typo'\].*\['demand'"):
        check_weights({"demand": 1.0, "typo": 1.0}, ["demand", "temp_class"])
    with pytest.raises(ConfigError, match="loss_weights"):
        check_weights({"demand": 1.0}, ["demand", "temp_class"])


# --- predict_change -------------------------------------------------------------


def test_predict_change_head_starts_from_the_last_observed_value(tmp_path):
    tasks = [{**REG, "change_of": 1}, CLS3]
    model = build_model(3, 4, tasks, [8], 0.0)
    assert sorted(model.output_names) == ["demand", "temp_class"]
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    model.get_layer("demand_change").set_weights([np.zeros((8, 1)), np.zeros(1)])
    np.testing.assert_allclose(model.predict(x, verbose=0)["demand"][:, 0], x[:, -1, 1])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(
        tmp_path / "m.keras", safe_mode=True, compile=False
    )
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0)["demand"], model.predict(x, verbose=0)["demand"]
    )


def test_saved_model_bytes_do_not_depend_on_time_or_memory(tmp_path):
    from mtlstm.tf_setup import make_deterministic, save_model

    make_deterministic(7)
    model = build_model(3, 4, [REG, CLS3], [8], 0.0)
    save_model(model, tmp_path / "a.keras")
    time.sleep(1.1)  # Keras would stamp a different save time
    make_deterministic(7)
    # Equal weights, other Python objects: Keras numbers shared objects by id().
    save_model(build_model(3, 4, [REG, CLS3], [8], 0.0), tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    loaded = keras.models.load_model(tmp_path / "a.keras", safe_mode=True)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    # A model restored from a checkpoint (as a resumed train is) shares its
    # dtype policy and initializers differently; its bytes must not differ.
    save_model(loaded, tmp_path / "c.keras")
    assert (tmp_path / "c.keras").read_bytes() == (tmp_path / "a.keras").read_bytes()


def test_resume_puts_back_dvclive_files_byte_for_byte(tmp_path):
    """DVC deletes train's outputs (DVCLive's files) before a rerun: a resumed
    run restores them from the checkpoint exactly, and nothing else."""
    live, ckpt = tmp_path / "dvclive", tmp_path / "resume"
    files = {
        "metrics.json": '{\n  "loss": 0.5,\n  "step": 2\n}',
        "plots/metrics/train/loss.tsv": "step\tloss\r\n0\t0.9\r\n1\t0.7\r\n",
        "plots/metrics/eval/loss.tsv": "step\tloss\n0\t1.0\n",
    }
    for name, text in files.items():
        (live / name).parent.mkdir(parents=True, exist_ok=True)
        (live / name).write_bytes(text.encode())
    ckpt.mkdir()
    snapshot = resume._live_files(live)
    assert snapshot == files
    write_json(ckpt / "live-2.json", snapshot)
    (live / "plots/metrics/train/loss.tsv").unlink()  # as DVC would
    (live / "plots/metrics/train/later.tsv").write_text("step\tx\n3\t1\n")
    resume.restore_live(ckpt, {"live": "live-2.json"}, live)
    restored = {
        p.relative_to(live).as_posix(): p.read_bytes().decode()
        for p in live.rglob("*")
        if p.is_file()
    }
    assert restored == files


def test_a_windows_forecast_does_not_depend_on_the_windows_beside_it():
    # TensorFlow rounds differently for different batch sizes, and at the
    # last places of a batch on some CPUs: forecast_windows pads every batch
    # to batch_size and appends BATCH_TAIL more, so a window gets the same
    # bits whether it comes with 49 windows or 64, first, fifth or last
    # (evaluate and predict see different windows around the same one).
    from mtlstm.dataset import forecast_windows
    from mtlstm.model import average_models

    # The mean of several models (checkpoint_average, ensemble) is where the
    # default model's forecasts showed it; one plain model may not. A
    # two-class softmax showed the last places of a batch (AMD EPYC, AVX2).
    two = {**CLS3, "name": "rain", "bins": [0.0], "classes": ["dry", "wet"]}
    tasks = [REG, CLS3, two]
    keras.utils.set_random_seed(0)
    members = [build_model(12, 24, tasks, [64], 0.0) for _ in range(5)]
    model = average_models(members)
    scaled = np.random.default_rng(0).normal(size=(200, 12)).astype(np.float32)
    bundle = {"lookback": 24, "tasks": tasks}
    ends = np.arange(23, 199)
    whole = forecast_windows(model, scaled, ends[:64], bundle, 64)
    assert whole["demand"].shape == (64, 1)
    assert whole["rain"].shape == (64, 2)
    for first, n in [(0, 49), (5, 59), (0, 9), (40, 1), (60, 4), (63, 1)]:
        part = forecast_windows(model, scaled, ends[first : first + n], bundle, 64)
        for name in ("demand", "temp_class", "rain"):
            assert len(part[name]) == n
            np.testing.assert_array_equal(part[name], whole[name][first : first + n])


@pytest.mark.parametrize(
    ("losses", "metrics", "message"),
    [
        ({"demand": "msee"}, {}, r"train\.losses\.demand: 'msee' is not a Keras loss"),
        (
            {},
            {"temp_class": ["accuracy", "acuracy"]},
            r"train\.metrics\.temp_class\[1\]: 'acuracy' is not a Keras metric",
        ),
    ],
)
def test_unknown_loss_or_metric_name_is_a_config_error(losses, metrics, message):
    # Was Keras' ValueError, which the stages report as a bug in mtlstm (the
    # metric's only at the first training step).
    tasks = [REG, CLS3]
    with pytest.raises(ConfigError, match=message):
        compile_model(_model(tasks), tasks, _weights(tasks), 0.01, losses, metrics)


def test_keras_compile_aliases_stay_accepted():
    # compile picks the kind for these; keras.losses/metrics.get do not know them.
    tasks = [REG, CLS3]
    compile_model(
        _model(tasks),
        tasks,
        _weights(tasks),
        0.01,
        {"temp_class": "crossentropy"},
        {"temp_class": ["acc"], "demand": ["mae", "root_mean_squared_error"]},
    )
