"""Data-parallel training with ``tf.distribute``: ``train.distribute``.

``none``
    TensorFlow's default strategy: one device, exactly the single-process run.
``mirrored``
    ``MirroredStrategy``: one replica per local GPU, or, on a host without
    GPUs, per logical CPU device (see :func:`split_cpu`). Gradients are summed
    across replicas each step, so every replica holds the same weights.
``multi_worker``
    ``MultiWorkerMirroredStrategy``: the same, across processes (workers) that
    find each other through the ``TF_CONFIG`` environment variable.

Batch sizes. ``train.batch_size`` is the *per-replica* batch; one step consumes
a *global* batch of ``batch_size x num_replicas_in_sync`` windows, which the
strategy splits evenly between replicas (a short last batch unevenly). So
build the dataset with :func:`global_batch_size` and count
``steps_per_epoch`` in global batches. With ``none`` (one replica) both are the
same number and nothing changes; with more replicas an epoch has fewer, larger
steps, which changes the optimisation (the learning rate is not rescaled).
Without dropout, N replicas x B train like one device with batch N x B (up to
float rounding) as long as each batch splits evenly. A short last batch does
not: Keras averages the replicas' per-slice means, so rows of a smaller slice
weigh more (an empty slice counts as a loss of 0 in the logged metrics).

Sharding: ``train.shard`` (``multi_worker`` only).

``data`` (default)
    Every worker loads the whole matrix and runs the same seeded pipeline;
    TensorFlow's DATA auto-shard policy keeps each worker's replicas' slices of
    every global batch (:func:`shard_by_data`). Together the workers see
    exactly the batches of a one-process run, but each holds all the data.
``series``
    A panel (``ingest.series``) whose rows are grouped by series is cut into
    one contiguous run of series per worker (:func:`plan_series_shards`),
    balanced by training-window count; worker ``i`` of ``n`` memory-maps
    ``data/windows/scaled.npy`` and copies only its own rows (plus their
    targets and series codes), moves its train/val window ends to local row
    numbers, and builds its own dataset with auto-sharding OFF
    (:func:`load_series_shard`). Every worker computes the same plan from
    ``series.npy`` and the split's end files alone (memory-mapped), without
    reading the matrix. ``targets.npz`` is a zip: each task's column is read
    whole, cut to the worker's rows and freed before the next.

    Collective ops hang unless every worker runs the same steps, so each
    worker uses the same window counts: per epoch it trains on the first
    ``k`` windows of that epoch's shuffled order, ``k`` the smallest worker's
    training-window count (a larger worker drops its last ``n_i - k`` windows,
    other ones each epoch: none is left out for good), and it validates on
    ``k_val`` (the smallest worker's count) of its validation windows, evenly
    spaced over its rows (the same ones every epoch). No window is used twice
    in an epoch. A series is never split, so the workers' counts, and the
    windows dropped, differ by up to about one series' windows (many series:
    a small fraction; the log line says how many each worker uses).
    Each worker's dataset is batched at the global batch, which TensorFlow
    splits into one slice per replica of *every* worker (OFF gives the whole
    dataset to each worker, so a worker consumes its batch over ``n`` steps):
    an epoch is ``n x ceil(k / global batch)`` steps, of ``batch_size``
    windows per replica as under ``data``. Validation losses are Keras
    metrics, aggregated across all replicas: every worker reads the same
    ``val_loss`` (the mean of the replicas' own means, which equal-size
    slices make the plain mean over all kept windows), so early stopping and
    checkpoint selection agree. ``train.class_weighting: balanced`` counts
    the classes over all training windows, as with ``data``.

Determinism. ``make_deterministic`` (seeds + op determinism) works under every
kind: on CPU, runs repeat bit for bit and all workers hold identical weights.
Create the strategy first: ``multi_worker`` must exist before any TensorFlow
op runs (seeding alone is fine, a tensor is not).

What must happen inside ``strategy.scope()``: creating the model's variables
(``build_model``), the optimizer (``compile_model``) and any model loaded to
resume (``keras.models.load_model``). ``model.fit`` then distributes a plain
``tf.data.Dataset`` by itself; it needs no scope.

cuDNN. Under a strategy each GPU replica runs the LSTM kernel on its own
slice, so the cuDNN kernel still applies as long as every LSTM layer keeps
Keras's cuDNN conditions: ``activation="tanh"``, ``recurrent_activation=
"sigmoid"``, ``recurrent_dropout=0``, ``unroll=False``, ``use_bias=True`` (and
no mask that is not right-padded). ``build_model`` keeps all of these
defaults; :func:`cudnn_blockers` lists the violations of a model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlstm.dataset import steps_per_epoch
from mtlstm.errors import ConfigError, DataError
from mtlstm.io import load_npy, load_series
from mtlstm.model import embeds_series, training_class_weights

KINDS = ("none", "mirrored", "multi_worker")

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)

# Attribute -> value an LSTM layer must keep for the cuDNN kernel (Keras 3).
_CUDNN_SETTINGS = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "recurrent_dropout": 0,
    "unroll": False,
    "use_bias": True,
}


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy named by ``train.distribute``.

    Call it first thing in a training process: ``multi_worker`` configures
    TensorFlow's collective ops, which is only possible before TensorFlow has
    run any operation (TensorFlow raises ``RuntimeError`` otherwise).
    """
    if kind == "none":
        # The default strategy: scope() is a no-op and replicas == 1.
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return _Mirrored(_local_devices())
    if kind == "multi_worker":
        _check_tf_config()
        return _MultiWorkerMirrored()
    raise ConfigError(f"train.distribute is {kind!r}; use one of {', '.join(KINDS)}")


def one_process_strategy(kind: str, label: str, trains: str) -> tf.distribute.Strategy:
    """``make_strategy`` for a stage that trains in one DVC process (ablation,
    backtest): none and mirrored as the train stage makes them (this host's
    replicas: the trained model's global batch). multi_worker has no cluster
    to join there (the workers run the train stage): one device, with a note
    on stdout naming ``label`` and what ``trains`` there."""
    if kind != "multi_worker":
        return make_strategy(kind)
    print(
        f"{label}: train.distribute is multi_worker, but this stage runs in one "
        f"process: {trains} on one device, train.batch_size windows a step (the "
        "train stage's model: batch_size x all workers' replicas)"
    )
    return make_strategy("none")


class _ShapeOnlyNestedReduce:
    """Work around Keras 3 reducing a whole input batch (keras-team/keras#20585).

    Before fitting or evaluating, Keras's TensorFlow trainer takes the first
    batch of the distributed dataset and calls ``strategy.reduce("MEAN", (x,
    y))`` on it, only to learn shapes and dtypes for building. TensorFlow's
    reduce does not accept a nested value: MultiWorkerMirroredStrategy raises
    "Attempt to convert a value (PerReplica...)", and MirroredStrategy fails
    with "AddN ... must have the same size and shape" whenever that first batch
    splits unevenly (a validation set smaller than the global batch). A nested
    value gets the first local replica's slice instead: right shapes and
    dtypes, no cross-replica traffic.

    Single values (losses, metrics) are reduced by TensorFlow as before, except
    that Keras's multi-worker path asks for the mean of each scalar log "over
    axis 0", which TensorFlow rejects for a scalar ("Invalid reduction dimension
    0"); a scalar is averaged across replicas instead, as on one worker.
    """

    def reduce(
        self, reduce_op: str | tf.distribute.ReduceOp, value: Any, axis: int | None
    ) -> Any:
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(lambda v: _local(self, v), value)
        if axis is not None and _local(self, value).shape.rank == 0:
            axis = None  # a scalar has no axis 0: the mean is across replicas
        return super().reduce(reduce_op, value, axis)


def _local(strategy: tf.distribute.Strategy, value: Any) -> tf.Tensor:
    """This process's first replica's part of a per-replica value (or the value)."""
    return strategy.experimental_local_results(value)[0]


class _Mirrored(_ShapeOnlyNestedReduce, tf.distribute.MirroredStrategy):
    pass


class _MultiWorkerMirrored(
    _ShapeOnlyNestedReduce, tf.distribute.MultiWorkerMirroredStrategy
):
    pass


def _local_devices() -> list[str]:
    """All local GPUs, else all logical CPUs.

    MirroredStrategy() on its own ignores logical CPUs and would give one
    replica on a CPU-only host even after :func:`split_cpu`.
    """
    devices = tf.config.list_logical_devices("GPU")
    devices = devices or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


def _check_tf_config() -> dict:
    """Parse ``TF_CONFIG``: without it MultiWorkerMirroredStrategy silently
    trains alone, each worker on its own, which is never what was meant."""
    raw = os.environ.get("TF_CONFIG", "")
    help_ = (
        "multi_worker training needs the TF_CONFIG environment variable: the "
        "cluster's worker addresses (the same list in every process) and this "
        f"process's place in it, e.g. {TF_CONFIG_EXAMPLE}"
    )
    if not raw.strip():
        raise ConfigError(f"train.distribute is 'multi_worker' but {help_}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc}); {help_}") from None
    cluster, task = config.get("cluster"), config.get("task")
    if not (isinstance(cluster, dict) and isinstance(task, dict)):
        raise ConfigError(f"TF_CONFIG lacks 'cluster' or 'task'; {help_}")
    if task.get("type") not in cluster or "index" not in task:
        raise ConfigError(
            f"TF_CONFIG task {task} names no entry of cluster {cluster}; {help_}"
        )
    return config


def global_batch_size(per_replica: int, strategy: tf.distribute.Strategy) -> int:
    """Windows per step: each of the ``num_replicas_in_sync`` replicas (over all
    workers) gets ``per_replica`` of them."""
    if per_replica < 1:
        raise ConfigError(f"train.batch_size must be >= 1, got {per_replica}")
    return per_replica * strategy.num_replicas_in_sync


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes shared outputs (model, checkpoints, logs).

    Every worker computes the same weights, so one writer suffices, and
    several writers to one directory would race. The chief is the ``chief``
    task or, in a cluster without one, worker 0 (TensorFlow's convention).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True  # single process: none, mirrored
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def workers_agree(strategy: tf.distribute.Strategy, value: int) -> bool:
    """Whether every worker passed the same ``value`` (always, in one process).

    A collective every worker must join, at the same point: each replica adds
    ``(v, v**2)`` of its worker's ``v``; over ``R`` replicas ``R * sum(v**2)
    == sum(v)**2`` only when all are equal (Cauchy-Schwarz), and every worker
    reads the same sums, so all reach the same answer."""
    if worker_place(strategy)[1] == 1:
        return True
    local = tf.constant([value, value * value], tf.float64)
    total = strategy.reduce("SUM", strategy.run(lambda: local), axis=None).numpy()
    return bool(strategy.num_replicas_in_sync * total[1] == total[0] ** 2)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Let a multi-worker strategy split every global batch between workers.

    ``make_dataset`` builds its batches from tensors in memory, so there are no
    files for the default AUTO policy to shard by: AUTO would fall back to DATA
    with a warning. DATA is set explicitly: every worker runs the same seeded
    pipeline and keeps only its replicas' slices of each global batch, so the
    workers together see exactly the batches of a single-process run. OFF would
    instead feed every worker the whole data (duplicated, not split). The cost
    of DATA, gathering the full global batch on every worker, is small next to
    an LSTM step.
    """
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy.DATA
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)


def shard_off(dataset: tf.data.Dataset, validation: bool = False) -> tf.data.Dataset:
    """Give each worker its whole ``dataset`` (``train.shard: series``: every
    worker built its dataset from its own series, so there is nothing to cut).

    TensorFlow still splits each batch into one slice per replica of every
    worker, so one batch lasts ``workers`` steps, and Keras, which counts a
    validation set's steps by its batches, would stop after ``1 / workers`` of
    it. A ``validation`` set is therefore repeated without end and validated
    for ``validation_steps`` (:meth:`SeriesShard.steps`), which ``fit`` passes:
    Keras restarts it at every epoch. (A finite set with ``validation_steps``
    fails at the second epoch: Keras peeks a batch from the exhausted one.)
    """
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy.OFF
    options.experimental_distribute.auto_shard_policy = policy
    return (dataset.repeat() if validation else dataset).with_options(options)


def shard_dataset(
    dataset: tf.data.Dataset, shard: SeriesShard | None, validation: bool = False
) -> tf.data.Dataset:
    """``train.shard``'s policy: DATA (``shard`` None) or OFF (a series shard)."""
    if shard is None:
        return shard_by_data(dataset)
    return shard_off(dataset, validation)


@dataclass(frozen=True)
class SeriesShard:
    """One worker's part of the panel under ``train.shard: series``.

    Ranges are half-open ``(start, stop)``: ``blocks`` in the list of series
    blocks in row order, ``codes`` the series codes of its first and last
    block, ``rows`` in ``scaled.npy``, ``train`` and ``val`` positions in the
    split's end files. ``train_windows`` and ``val_windows`` are the counts
    *every* worker uses per epoch (the smallest worker's).
    """

    worker: int
    workers: int
    blocks: tuple[int, int]
    codes: tuple[int, int]
    rows: tuple[int, int]
    train: tuple[int, int]
    val: tuple[int, int]
    train_windows: int
    val_windows: int

    def steps(self, global_batch: int, split: str = "train") -> int:
        """Steps per epoch (``split`` train) or validation: each worker
        consumes each global batch of its windows over ``workers`` steps (see
        the module doc)."""
        windows = self.train_windows if split == "train" else self.val_windows
        return self.workers * steps_per_epoch(windows, global_batch)

    def describe(self) -> str:
        n_train, n_val = self.train[1] - self.train[0], self.val[1] - self.val[0]
        return (
            f"worker {self.worker} of {self.workers} holds series blocks "
            f"{self.blocks[0]}..{self.blocks[1] - 1} (codes {self.codes[0]}.."
            f"{self.codes[1]}), rows {self.rows[0]}..{self.rows[1] - 1}; trains on "
            f"{self.train_windows} of its {n_train} windows per epoch (the first of "
            f"each epoch's shuffled order), validates on {self.val_windows} of its "
            f"{n_val} (evenly spaced)"
        )


def worker_place(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """``(this worker's index, number of workers)``: the chief first, then the
    workers in ``TF_CONFIG`` order; ``(0, 1)`` for a single process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return 0, 1
    spec = resolver.cluster_spec().as_dict()
    order = [
        (kind, i)
        for kind in ("chief", "worker")
        for i in range(len(spec.get(kind, [])))
    ]
    return order.index((resolver.task_type, resolver.task_id)), len(order)


def series_blocks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, stops, code)`` of each run of equal series codes, in row order;
    a series split over two runs (rows not grouped by series) is a DataError."""
    n = len(codes)
    if n == 0:
        raise DataError("series.npy: no rows")
    # One comparison pass over the (memory-mapped) codes: no row data is read.
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
    stops = np.append(starts[1:], n)
    code = np.asarray(codes[starts], dtype=np.int64)
    if len(np.unique(code)) != len(code):
        raise DataError(
            "series.npy: a series' rows are not contiguous (rows must be grouped "
            "by series, as ingest writes them); rerun `dvc repro window`, or use "
            "train.shard: data"
        )
    return starts, stops, code


def balanced_cuts(weights: np.ndarray, parts: int) -> np.ndarray:
    """``parts + 1`` boundaries ``0 = c_0 < ... < c_parts = len(weights)`` that
    cut ``weights`` (in order) into ``parts`` non-empty runs of near-equal sums:
    each cut is the block boundary nearest to its share ``i / parts`` of the
    total, moved only as far as needed to leave every run a block."""
    n = len(weights)
    if n < parts:
        raise ValueError(f"cannot cut {n} blocks into {parts} non-empty runs")
    cum = np.concatenate([[0], np.cumsum(weights, dtype=np.float64)])
    cuts = [0]
    for i in range(1, parts):
        target = cum[-1] * i / parts
        c = int(np.searchsorted(cum, target))
        if c > 0 and target - cum[c - 1] <= cum[c] - target:
            c -= 1  # the nearer boundary (ties: the earlier one)
        cuts.append(min(max(c, cuts[-1] + 1), n - (parts - i)))
    cuts.append(n)
    return np.asarray(cuts, dtype=np.int64)


def plan_series_shards(
    codes: np.ndarray,
    train_ends: np.ndarray,
    val_ends: np.ndarray,
    workers: int,
    lookback: int,
    max_horizon: int,
    n_series: int | None = None,
) -> list[SeriesShard]:
    """Every worker's :class:`SeriesShard`, the same on every worker.

    ``codes``: each row's series code (may be memory-mapped); ``train_ends``
    and ``val_ends``: the split's sorted window end rows. Series blocks go to
    workers in row order, cut where the training windows split most evenly.
    ``n_series``: the bundle's series count, which every code must be below.
    """
    starts, stops, code = series_blocks(codes)
    if n_series is not None and (code.min() < 0 or code.max() >= n_series):
        raise DataError(
            f"series.npy: series codes run from {code.min()} to {code.max()} but "
            f"preprocess.json names {n_series} series; rerun `dvc repro window`"
        )
    if len(starts) < workers:
        raise ConfigError(
            f"train.shard: series gives each worker whole series, but the panel "
            f"has {len(starts)} series for {workers} workers; use at least as "
            "many series as workers, fewer workers, or train.shard: data"
        )
    spans = {}
    for name, ends in (("train", train_ends), ("val", val_ends)):
        spans[name] = _ends_per_block(name, ends, starts, stops, lookback, max_horizon)
    cuts = balanced_cuts(np.diff(spans["train"]), workers)
    shards = []
    for w in range(workers):
        a, b = int(cuts[w]), int(cuts[w + 1])
        shards.append(
            dict(
                worker=w,
                workers=workers,
                blocks=(a, b),
                codes=(int(code[a]), int(code[b - 1])),
                rows=(int(starts[a]), int(stops[b - 1])),
                train=(int(spans["train"][a]), int(spans["train"][b])),
                val=(int(spans["val"][a]), int(spans["val"][b])),
            )
        )
    counts = {
        name: min(s[name][1] - s[name][0] for s in shards) for name in ("train", "val")
    }
    for name, k in counts.items():
        if k == 0:
            empty = next(s for s in shards if s[name][1] == s[name][0])
            raise ConfigError(
                f"train.shard: series: worker {empty['worker']}'s series (codes "
                f"{empty['codes'][0]}..{empty['codes'][1]}) hold no {name} window, "
                "and every worker must run the same steps; use fewer workers, "
                "more data, or train.shard: data"
            )
    return [
        SeriesShard(**s, train_windows=counts["train"], val_windows=counts["val"])
        for s in shards
    ]


def _ends_per_block(
    name: str,
    ends: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    lookback: int,
    max_horizon: int,
) -> np.ndarray:
    """Positions in the sorted ``ends`` where each block's windows begin, plus
    the end: block ``j``'s windows are ``ends[pos[j]:pos[j + 1]]``. Checks that
    each window's rows (inputs and targets) lie inside its block."""
    if len(ends) > 1 and not bool(np.all(ends[1:] > ends[:-1])):
        raise DataError(
            f"data/split/{name}.npy: window ends are not increasing; "
            "rerun `dvc repro split`"
        )
    pos = np.searchsorted(ends, starts)
    pos = np.append(pos, len(ends))
    if len(ends) and (ends[0] < 0 or ends[-1] >= stops[-1]):
        raise DataError(
            f"data/split/{name}.npy: window ends outside the "
            f"{stops[-1]} rows; rerun `dvc repro window split`"
        )
    full = np.flatnonzero(pos[1:] > pos[:-1])
    first, last = ends[pos[full]], ends[pos[full + 1] - 1]
    if np.any(first - lookback + 1 < starts[full]) or np.any(
        last + max_horizon >= stops[full]
    ):
        raise DataError(
            f"data/split/{name}.npy: a window crosses from one series into another; "
            "rerun `dvc repro window split`, or use train.shard: data"
        )
    return pos


def load_series_shard(
    windows: Path,
    split: Path,
    bundle: dict[str, Any],
    strategy: tf.distribute.Strategy,
    cfg: Any,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """This worker's arrays for ``training.fit`` and the class weights.

    ``arrays`` holds the worker's rows only: ``scaled``, ``targets``,
    ``series`` (when ``model.embeds_series(cfg)``), ``train`` and ``val`` window
    ends as local row numbers (``val`` already cut to the shared count), and
    ``shard``, its :class:`SeriesShard`. The class weights (``balanced``) are
    counted over every training window, the same on every worker.
    """
    if not (bundle.get("series") or {}).get("names"):
        raise ConfigError(
            f"train.shard: series needs a panel, but {windows / 'preprocess.json'} "
            "names no series; set ingest.series (and rerun the pipeline) or use "
            "train.shard: data"
        )
    worker, workers = worker_place(strategy)
    n_rows = int(bundle["n_rows"])
    codes = load_series(windows, bundle, mmap=True)  # checked against the bundle
    scaled_all = load_npy(windows / "scaled.npy", mmap=True)
    if scaled_all.shape[0] != n_rows:
        raise DataError(
            f"{windows / 'scaled.npy'}: {scaled_all.shape[0]} rows, but "
            f"preprocess.json says {n_rows}; rerun `dvc repro window`"
        )
    ends = {
        name: load_npy(split / f"{name}.npy", mmap=True) for name in ("train", "val")
    }
    shard = plan_series_shards(
        codes,
        ends["train"],
        ends["val"],
        workers,
        bundle["lookback"],
        bundle["max_horizon"],
        len(bundle["series"]["names"]),
    )[worker]
    r0, r1 = shard.rows
    arrays: dict[str, Any] = {"scaled": np.array(scaled_all[r0:r1]), "shard": shard}
    del scaled_all  # the map: only this worker's copy stays
    weights: dict[str, list[float]] = {}
    arrays["targets"] = {}
    with np.load(windows / "targets.npz", allow_pickle=False) as data:
        for name in data.files:  # one whole column at a time
            column = data[name]
            task = [t for t in bundle["tasks"] if t["name"] == name]
            weights |= training_class_weights(
                cfg, {"tasks": task}, {name: column}, ends["train"]
            )
            arrays["targets"][name] = column[r0:r1].copy()
            del column
    if embeds_series(cfg):
        arrays["series"] = np.array(codes[r0:r1], dtype=np.int32)
    arrays["train"] = np.array(ends["train"][slice(*shard.train)], np.int64) - r0
    val = np.array(ends["val"][slice(*shard.val)], np.int64) - r0
    # Evenly spaced (spacing >= 1, so distinct): the windows a larger worker
    # leaves out are spread over its series, not all from its last one.
    keep = np.linspace(0, len(val) - 1, shard.val_windows).round().astype(np.int64)
    arrays["val"] = val[keep]
    return arrays, weights


def split_cpu(n: int) -> None:
    """Split the host's CPU into ``n`` logical devices, e.g. to run
    ``mirrored`` with several replicas on a CPU-only host or in tests.

    Must run before TensorFlow initialises its devices (before any tensor is
    created or device listed as logical); afterwards TensorFlow refuses, and
    this raises ConfigError unless the split is already ``n`` devices.
    """
    if n < 1:
        raise ConfigError(f"cannot split the CPU into {n} devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise ConfigError(
                f"cannot split the CPU into {n} devices: TensorFlow already "
                f"initialised {have}; call split_cpu before any TensorFlow work"
            ) from None


def cudnn_blockers(model: keras.Model) -> list[str]:
    """Why each LSTM layer of ``model`` could not use cuDNN; empty if all can."""
    found = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.LSTM):
            continue
        for name, wanted in _CUDNN_SETTINGS.items():
            value = getattr(layer.cell, name, getattr(layer, name, None))
            if callable(value):
                value = getattr(value, "__name__", value)
            if value != wanted:
                found.append(f"{layer.name}: {name}={value!r}, cuDNN needs {wanted!r}")
    return found
