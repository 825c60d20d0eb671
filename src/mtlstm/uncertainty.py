"""Is a skill score more than noise? Intervals and tests on per-window losses.

A skill of +2% on one test split can be noise. Everything here works on the
per-window losses of two forecasters on the SAME test windows (absolute error
for regression, log-loss for classification; ``metrics.window_losses``), in time
order, and keeps the pairing: a resample always takes the same windows from both.

- ``skill_interval``: the skill ``1 - mean(model) / mean(reference)`` with a
  percentile interval from a moving-block bootstrap. Windows are resampled in
  blocks of consecutive windows (at least one season long), so the serial
  dependence of forecast errors within a day survives in every resample; an
  i.i.d. bootstrap would give intervals that are too narrow. The blocks wrap
  around the end of the test split (the circular block bootstrap), so every
  window is equally likely to be drawn: without the wrap the first and last
  windows are rarely drawn, and on a short test split an interval could miss
  its own skill. A block as long as the split gives no interval (NaN): every
  resample would be the same windows, rotated, with the same mean.
- ``diebold_mariano``: a paired Diebold-Mariano test of equal mean loss, with a
  Newey-West (Bartlett kernel, HAC) long-run variance of the loss differences.
  The p-value is two-sided from the standard normal; no small-sample correction.
- ``macro_f1_difference``: macro-F1 is not a mean of per-window losses, but it
  is a function of per-class counts (true positives, false positives, false
  negatives), which are sums over windows: the same paired block resamples of
  those per-window counts give the difference of two forecasters' macro-F1
  with a percentile interval (no Diebold-Mariano test: there is no per-window
  loss to difference).

A panel (several series, ``ingest.series``) has several test windows at each
time, and its series' errors move together (one weather front, one coupled
market): resampling a stretch of one series' windows alone would treat them as
independent and give intervals that are too narrow. So every function takes
``positions``: each window's place on the time axis (``time_positions``),
windows of one time sharing a place. With it, a block is ``block`` consecutive
times carrying every window at them, each mean is the resampled windows' sum
over their count, and the Diebold-Mariano variance is that of the per-time sums
(the delta method for a ratio of means). Without it (one series) every window
is its own time, as above.

Pure NumPy (plus ``math.erfc``): no SciPy, no TensorFlow. Seeded: the same
inputs and seed give identical numbers.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95  # two-sided coverage of the reported intervals
# Resamples drawn per batch: bounds memory (batch x blocks start indices) on
# long test splits; results depend on it, so it is a constant, not a setting.
BATCH = 256


def _as_losses(name: str, values: np.ndarray) -> np.ndarray:
    losses = np.asarray(values, dtype=np.float64)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"{name}: need a non-empty 1-D array of per-window losses")
    if not np.all(np.isfinite(losses)):
        raise ValueError(f"{name}: per-window losses must be finite")
    return losses


def _paired(model_loss: np.ndarray, ref_loss: np.ndarray) -> np.ndarray:
    """``2 x n``: the two loss series, checked to cover the same windows."""
    model = _as_losses("model_loss", model_loss)
    ref = _as_losses("ref_loss", ref_loss)
    if model.shape != ref.shape:
        raise ValueError(
            f"model_loss has {model.size} windows but ref_loss {ref.size}; the "
            "losses must be paired, one per test window"
        )
    return np.stack([model, ref])


def block_bootstrap_means(
    losses: np.ndarray, block: int, samples: int, seed: int
) -> np.ndarray:
    """``samples x k`` means of each of the ``k x n`` loss series over resampled
    windows, all series resampled with the same windows (paired).

    A resample concatenates ``ceil(n / block)`` blocks of ``block`` consecutive
    windows, each starting at a uniformly drawn window ``0 .. n - 1`` and
    wrapping past the last window to the first, and keeps its first ``n``
    windows (the circular block bootstrap of Politis and Romano, 1992). Every
    window is in the same number of possible blocks, so a resample's expected
    mean is the mean of all windows; the moving-block bootstrap without the
    wrap (Kuensch, 1989) draws the first and last ``block - 1`` windows less
    often, which shifts the interval of a short test split.
    """
    losses = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    n = losses.shape[1]
    if block < 1 or block > n:
        raise ValueError(
            f"block length {block} must be between 1 and the number of windows {n}"
        )
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    blocks = -(-n // block)  # ceil
    tail = n - (blocks - 1) * block  # windows kept from the last block
    # The windows followed by the first block - 1 again: a block starting at
    # any of the n windows is `block` consecutive entries of this.
    circle = np.concatenate([losses, losses[:, : block - 1]], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view
    # Sum of every block of `block` (and of `tail`) windows, per starting window.
    full_sums = windows(circle, block, axis=1).sum(axis=2)
    tail_sums = windows(circle, tail, axis=1).sum(axis=2)[:, :n]
    rng = np.random.default_rng(seed)
    out = np.empty((samples, losses.shape[0]))
    for first in range(0, samples, BATCH):
        size = min(BATCH, samples - first)
        starts = rng.integers(0, n, size=(size, blocks))
        sums = full_sums[:, starts[:, :-1]].sum(axis=2) + tail_sums[:, starts[:, -1]]
        out[first : first + size] = sums.T / n
    return out


def time_positions(instants: np.ndarray) -> np.ndarray | None:
    """Each window's place among the distinct ``instants`` (its end times), in
    time order; None when no two windows share a time (one series), so that
    every window is its own place."""
    distinct, place = np.unique(np.asarray(instants), return_inverse=True)
    return None if distinct.size == place.size else place.astype(np.int64)


def sums_by_time(losses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``(k + 1) x T``: per time, the sum of each of the ``k x n`` loss series
    over its windows, then (last row) how many windows it has."""
    losses = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    positions = np.asarray(positions, np.int64)
    if positions.shape != losses.shape[1:]:
        raise ValueError(
            f"positions has {positions.size} entries for {losses.shape[1]} windows"
        )
    size = int(positions.max()) + 1
    rows = [np.bincount(positions, weights=row, minlength=size) for row in losses]
    return np.stack([*rows, np.bincount(positions, minlength=size).astype(float)])


def resampled_means(
    losses: np.ndarray,
    block: int,
    samples: int,
    seed: int,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """``block_bootstrap_means`` of the ``k x n`` losses; with ``positions``,
    over blocks of consecutive times, each carrying all its windows (the
    resample's loss sum over its window count)."""
    if positions is None:
        return block_bootstrap_means(losses, block, samples, seed)
    pooled = block_bootstrap_means(
        sums_by_time(losses, positions), block, samples, seed
    )
    return pooled[:, :-1] / pooled[:, -1:]


def skill_of_means(model_mean: np.ndarray, ref_mean: np.ndarray) -> np.ndarray:
    """1 - model / reference: 0 is no better than the reference, 1 is perfect;
    0 where the reference's error is 0."""
    model_mean = np.asarray(model_mean, dtype=np.float64)
    ref_mean = np.asarray(ref_mean, dtype=np.float64)
    ratio = np.divide(
        model_mean, ref_mean, out=np.ones_like(model_mean), where=ref_mean > 0
    )
    return 1.0 - ratio


def skill_interval(
    model_loss: np.ndarray,
    ref_loss: np.ndarray,
    block: int,
    samples: int,
    seed: int,
    level: float = LEVEL,
    positions: np.ndarray | None = None,
) -> dict[str, float]:
    """``{"value", "ci_low", "ci_high"}``: the skill on all windows and its
    percentile interval over ``samples`` paired moving-block resamples (NaN
    bounds where one block holds every window: ``percentile_interval``)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    pair = _paired(model_loss, ref_loss)
    means = resampled_means(pair, block, samples, seed, positions)
    skills = skill_of_means(means[:, 0], means[:, 1])
    low, high = percentile_interval(skills, level, block, _units(pair, positions))
    value = skill_of_means(pair[0].mean(), pair[1].mean())
    return {"value": float(value), "ci_low": float(low), "ci_high": float(high)}


def _units(losses: np.ndarray, positions: np.ndarray | None) -> int:
    """What the blocks run over: windows, or with ``positions`` times."""
    if positions is None:
        return int(np.shape(losses)[-1])
    return int(np.max(positions)) + 1


def percentile_interval(
    values: np.ndarray, level: float, block: int, units: int
) -> tuple[float, float]:
    """The central ``level`` percentile interval of resampled ``values``, or
    NaN bounds where one block holds all ``units`` (windows or times): every
    resample is then the same windows, rotated, with the full sample's mean,
    and the zero-width interval would read as certainty where the resamples
    say nothing about the noise."""
    if block >= units:
        return math.nan, math.nan
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def newey_west_variance(values: np.ndarray, lags: int) -> float:
    """Long-run variance of a series' mean: autocovariances up to ``lags``
    weighted by the Bartlett kernel ``1 - k / (lags + 1)`` (never negative)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if not 0 <= lags < n:
        raise ValueError(f"lags must be between 0 and n - 1 = {n - 1}, got {lags}")
    dev = x - x.mean()
    variance = dev @ dev / n
    for k in range(1, lags + 1):
        variance += 2 * (1 - k / (lags + 1)) * (dev[k:] @ dev[:-k]) / n
    return float(variance)


def diebold_mariano(
    model_loss: np.ndarray,
    ref_loss: np.ndarray,
    lags: int,
    positions: np.ndarray | None = None,
) -> dict[str, float]:
    """Paired test of equal mean loss on ``d = model_loss - ref_loss``.

    ``{"loss_diff", "dm_stat", "dm_p"}``: the mean difference (< 0: the model's
    loss is lower), ``mean(d) / sqrt(newey_west_variance(d, lags) / n)`` and its
    two-sided p-value under the standard normal. Constant differences have no
    variance: the statistic is then 0 (all equal, p = 1) or +-inf (p = 0).
    With ``positions`` the variance is over times: that of ``(D_t - mean(d)
    c_t) / mean(c)``, ``D_t`` the differences summed over time ``t``'s ``c_t``
    windows, and ``n`` is the number of times.
    """
    pair = _paired(model_loss, ref_loss)
    diff = pair[0] - pair[1]
    mean = float(diff.mean())
    # Rounding can leave a tiny variance for constant differences; treat a
    # variance at the level of the rounding error of the values it is computed
    # from as none. Measured before centering: a panel's centred per-time
    # values of constant differences are themselves rounding error, so their
    # own size would make any leftover look like real variance.
    scale = float(np.max(np.abs(diff)))
    if positions is not None:
        summed, count = sums_by_time(diff, positions)
        magnitude = sums_by_time(np.abs(diff), positions)[0]
        scale = float(magnitude.max() / count.mean())
        diff = (summed - mean * count) / count.mean()
    variance = newey_west_variance(diff, lags)
    if variance <= (8 * np.finfo(float).eps * scale) ** 2:
        stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
    else:
        stat = mean / math.sqrt(variance / diff.size)
    p_value = math.erfc(abs(stat) / math.sqrt(2))
    return {"loss_diff": mean, "dm_stat": stat, "dm_p": p_value}


def compare(
    model_loss: np.ndarray,
    references: dict[str, np.ndarray],
    block: int,
    samples: int,
    seed: int,
    positions: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """``{"vs_<name>": {value, ci_low, ci_high, loss_diff, dm_stat, dm_p}}``.

    Every reference is resampled with the same seed, hence the same windows;
    the Diebold-Mariano variance uses ``block - 1`` lags (one season of
    autocovariances, the same dependence the bootstrap blocks keep).
    """
    return {
        f"vs_{name}": {
            **skill_interval(
                model_loss, ref, block, samples, seed, positions=positions
            ),
            **diebold_mariano(model_loss, ref, block - 1, positions),
        }
        for name, ref in references.items()
    }


def class_counts(actual: np.ndarray, named: np.ndarray, n_classes: int) -> np.ndarray:
    """``3C x n`` per-window counts, in time order: for each class its true
    positives, then false positives, then false negatives in each window (a
    window of a horizon range counts each of its steps). ``actual`` and
    ``named`` (the classes a forecaster names) are ``n`` or ``n x S``."""
    actual = np.asarray(actual, np.int64).reshape(len(actual), -1)
    named = np.asarray(named, np.int64).reshape(actual.shape)
    k = np.arange(n_classes)[:, None, None]
    hit = actual[None] == named[None]
    tp = ((named[None] == k) & hit).sum(axis=2)
    fp = ((named[None] == k) & ~hit).sum(axis=2)
    fn = ((actual[None] == k) & ~hit).sum(axis=2)
    return np.concatenate([tp, fp, fn]).astype(np.float64)


def macro_f1_of_counts(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 from ``... x 3C`` (mean or summed) counts: per class
    ``2 TP / (2 TP + FP + FN)``, averaged over the classes present in the truth
    or the forecast (as scikit-learn's ``average="macro"``)."""
    tp, fp, fn = np.split(np.asarray(counts, np.float64), 3, axis=-1)
    denominator = 2 * tp + fp + fn
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=present)
    return f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def macro_f1_difference(
    actual: np.ndarray,
    model: np.ndarray,
    reference: np.ndarray,
    n_classes: int,
    block: int,
    samples: int,
    seed: int,
    level: float = LEVEL,
    positions: np.ndarray | None = None,
) -> dict[str, float]:
    """``{"value", "ci_low", "ci_high"}``: the model's macro-F1 minus the
    reference's (> 0: the model is better) on all windows, with its percentile
    interval over ``samples`` paired moving-block resamples of the windows
    (the resamples of ``skill_interval`` for the same seed; NaN bounds where
    one block holds every window). ``model`` and ``reference``: the classes
    each names, shaped like ``actual``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    both = np.concatenate(
        [
            class_counts(actual, model, n_classes),
            class_counts(actual, reference, n_classes),
        ]
    )
    means = resampled_means(both, block, samples, seed, positions)
    width = 3 * n_classes
    diffs = macro_f1_of_counts(means[:, :width], n_classes) - macro_f1_of_counts(
        means[:, width:], n_classes
    )
    low, high = percentile_interval(diffs, level, block, _units(both, positions))
    total = both.sum(axis=1)
    value = macro_f1_of_counts(total[:width], n_classes) - macro_f1_of_counts(
        total[width:], n_classes
    )
    return {"value": float(value), "ci_low": float(low), "ci_high": float(high)}


def compare_macro_f1(
    actual: np.ndarray,
    model: np.ndarray,
    references: dict[str, np.ndarray],
    n_classes: int,
    block: int,
    samples: int,
    seed: int,
    positions: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """``{"vs_<name>": macro_f1_difference(...)}`` for every reference's classes."""
    return {
        f"vs_{name}": macro_f1_difference(
            actual, model, named, n_classes, block, samples, seed, positions=positions
        )
        for name, named in references.items()
    }
