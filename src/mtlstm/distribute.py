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
from typing import Any

import keras
import tensorflow as tf

from mtlstm.errors import ConfigError

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
