"""Skill intervals and Diebold-Mariano tests (mtlstm.uncertainty) on hand-built
loss series, and the per-window losses they are computed from
(metrics.window_losses). Pure NumPy: no TensorFlow, no files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtlstm import metrics, uncertainty


def explicit_means(losses: np.ndarray, block: int, samples: int, seed: int):
    """The circular block bootstrap written out: concatenate whole blocks of
    windows from the same random starts, wrapping past the last window to the
    first, keep the first n windows, average."""
    n = losses.shape[1]
    blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    means = []
    for first in range(0, samples, uncertainty.BATCH):
        size = min(uncertainty.BATCH, samples - first)
        starts = rng.integers(0, n, size=(size, blocks))
        for row in starts:
            idx = np.concatenate([np.arange(s, s + block) % n for s in row])[:n]
            means.append(losses[:, idx].mean(axis=1))
    return np.array(means)


@pytest.mark.parametrize(("n", "block"), [(4, 2), (5, 2), (7, 3), (6, 1), (5, 5)])
def test_block_bootstrap_means_are_means_of_concatenated_blocks(n, block):
    rng = np.random.default_rng(0)
    losses = rng.exponential(size=(2, n))
    got = uncertainty.block_bootstrap_means(losses, block, samples=300, seed=7)
    assert got.shape == (300, 2)
    assert_allclose(got, explicit_means(losses, block, 300, 7), rtol=1e-12)


def test_block_bootstrap_means_hand_case():
    # n = 4, block 2: a resample is two of the blocks [1, 2], [2, 3], [3, 4]
    # and, wrapping around, [4, 1] (sums 3, 5, 7, 5), so its mean is one of
    # (3 + 3) / 4 .. (7 + 7) / 4.
    losses = np.array([1.0, 2.0, 3.0, 4.0])
    means = uncertainty.block_bootstrap_means(losses, 2, samples=2000, seed=1)[:, 0]
    possible = {(a + b) / 4 for a in (3, 5, 7) for b in (3, 5, 7)}
    assert set(np.round(means, 12)) == possible
    # Each block is drawn uniformly: the expected resample mean is 2 * 5 / 4.
    assert means.mean() == pytest.approx(2.5, abs=0.05)


def test_every_window_is_drawn_equally_often_so_means_centre_on_the_mean():
    # One large loss in the first window. Without the wrap only the block
    # starting there holds it (1 of n - block + 1 = 4 starts, expected
    # resample mean 12 / 4 / 6 * 3 = 1.5 instead of 2); with it, 3 of 6 starts.
    losses = np.array([12.0, 0, 0, 0, 0, 0])
    means = uncertainty.block_bootstrap_means(losses, 3, samples=20000, seed=0)
    assert means.mean() == pytest.approx(losses.mean(), rel=0.02)
    # Exactly: the average over every possible start of a block's sum is
    # block x the mean, for any losses.
    rng = np.random.default_rng(2)
    for n, block in [(7, 3), (10, 4), (5, 5)]:
        x = rng.exponential(size=n)
        sums = [x[np.arange(s, s + block) % n].sum() for s in range(n)]
        assert np.mean(sums) == pytest.approx(block * x.mean())


def test_a_short_split_interval_contains_its_own_skill():
    # Two seasons of windows; the model is far worse than the reference only
    # in the first and the last windows. Without the wrap those windows are
    # rarely drawn, every resample looks better than the whole split, and the
    # interval lay entirely above the skill it is an interval for.
    ref = np.ones(48)
    model = np.full(48, 0.5)
    model[[0, 1, 46, 47]] = 8.0
    got = uncertainty.skill_interval(model, ref, 24, 1000, seed=0)
    assert got["ci_low"] <= got["value"] <= got["ci_high"]


def test_one_block_holding_every_window_gives_no_interval():
    # A block as long as the split: every resample is the same windows,
    # rotated, so every resampled skill was the full sample's and the interval
    # had zero width, a certainty that reads as a verdict. One window fewer
    # leaves something to resample.
    rng = np.random.default_rng(0)
    model, ref = rng.exponential(size=24), 1.3 * rng.exponential(size=24)
    got = uncertainty.compare(model, {"r": ref}, 24, 500, seed=0)["vs_r"]
    assert got["value"] == pytest.approx(1 - model.mean() / ref.mean())
    assert math.isnan(got["ci_low"]) and math.isnan(got["ci_high"])
    assert math.isfinite(got["dm_p"])
    shorter = uncertainty.skill_interval(model, ref, 23, 500, seed=0)
    assert shorter["ci_low"] < shorter["value"] < shorter["ci_high"]
    # The same by time in a panel (two series over 6 times, block 6), and for
    # a macro-F1 difference.
    places = np.tile(np.arange(6), 2)
    panel = uncertainty.skill_interval(
        model[:12], ref[:12], 6, 100, 0, positions=places
    )
    assert math.isnan(panel["ci_low"]) and math.isnan(panel["ci_high"])
    actual = rng.integers(0, 3, 24)
    f1 = uncertainty.macro_f1_difference(
        actual, actual, rng.integers(0, 3, 24), 3, 24, 100, 0
    )
    assert f1["value"] > 0
    assert math.isnan(f1["ci_low"]) and math.isnan(f1["ci_high"])


def test_identical_losses_give_zero_skill_and_zero_width():
    ref = np.random.default_rng(0).exponential(size=100)
    assert uncertainty.skill_interval(ref, ref, 10, 200, seed=0) == {
        "value": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
    }


def test_constant_loss_ratio_gives_a_zero_width_interval():
    # Half the reference's loss on every window: skill 0.5 in every resample.
    ref = np.random.default_rng(1).exponential(size=240)
    got = uncertainty.skill_interval(0.5 * ref, ref, 24, 500, seed=3)
    assert got == {"value": 0.5, "ci_low": 0.5, "ci_high": 0.5}


def noisy_pair(noise: float, n: int = 2400, seed: int = 0):
    """Model loss = 0.8 x reference loss x (1 + noise x N(0, 1)) per window."""
    rng = np.random.default_rng(seed)
    ref = rng.exponential(size=n) + 0.5
    model = 0.8 * ref * (1 + noise * rng.normal(size=n))
    return model, ref


def test_more_noise_gives_a_wider_interval_around_the_estimate():
    widths = []
    for noise in (0.05, 0.2, 0.5):
        model, ref = noisy_pair(noise)
        got = uncertainty.skill_interval(model, ref, 24, 1000, seed=0)
        assert got["ci_low"] < got["value"] < got["ci_high"]
        assert got["ci_low"] < 0.2 < got["ci_high"]  # the true skill, 1 - 0.8
        widths.append(got["ci_high"] - got["ci_low"])
    assert widths[0] < widths[1] < widths[2]


def test_interval_contains_the_true_skill_at_about_the_stated_rate():
    # 200 independent data sets whose true skill is 0.2: a 95% interval
    # should miss it about 10 times (binomial sd ~3).
    misses = 0
    for seed in range(200):
        model, ref = noisy_pair(0.5, n=240, seed=seed)
        got = uncertainty.skill_interval(model, ref, 4, 400, seed=seed)
        misses += not got["ci_low"] <= 0.2 <= got["ci_high"]
    assert 2 <= misses <= 25


def test_blocks_keep_serial_dependence_that_window_resampling_loses():
    # Loss differences that persist for a day at a time: resampling single
    # windows pretends there are 24x more independent observations.
    rng = np.random.default_rng(4)
    days = np.repeat(rng.normal(size=100), 24)
    ref = np.full(2400, 2.0)
    model = 1.8 + 0.5 * days
    width = {}
    for block in (1, 24):
        got = uncertainty.skill_interval(model, ref, block, 1000, seed=0)
        width[block] = got["ci_high"] - got["ci_low"]
    assert width[24] > 3 * width[1]


def test_rerun_gives_identical_intervals_and_seed_matters():
    model, ref = noisy_pair(0.3)
    first = uncertainty.compare(model, {"a": ref, "b": 2 * ref}, 24, 500, seed=11)
    again = uncertainty.compare(model, {"a": ref, "b": 2 * ref}, 24, 500, seed=11)
    assert first == again
    other = uncertainty.compare(model, {"a": ref, "b": 2 * ref}, 24, 500, seed=12)
    assert other["vs_a"]["ci_low"] != first["vs_a"]["ci_low"]
    assert other["vs_a"]["value"] == first["vs_a"]["value"]


def test_reference_without_error_gives_zero_skill():
    assert uncertainty.skill_interval(np.ones(10), np.zeros(10), 2, 100, seed=0) == {
        "value": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
    }


def test_newey_west_variance_by_hand():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    # deviations -1.5, -0.5, 0.5, 1.5: gamma0 = 5 / 4, gamma1 = 1.25 / 4,
    # gamma2 = (-0.75 - 0.75) / 4
    assert uncertainty.newey_west_variance(d, 0) == pytest.approx(1.25)
    assert uncertainty.newey_west_variance(d, 1) == pytest.approx(
        1.25 + 2 * 0.5 * 0.3125
    )
    assert uncertainty.newey_west_variance(d, 2) == pytest.approx(
        1.25 + 2 * (2 / 3) * 0.3125 + 2 * (1 / 3) * (-0.375)
    )


def test_diebold_mariano_by_hand():
    model = np.array([2.0, 3.0, 4.0, 5.0])
    ref = np.ones(4)  # d = 1, 2, 3, 4: mean 2.5, Newey-West variance (1 lag) 1.5625
    got = uncertainty.diebold_mariano(model, ref, lags=1)
    assert got["loss_diff"] == pytest.approx(2.5)
    assert got["dm_stat"] == pytest.approx(2.5 / math.sqrt(1.5625 / 4))  # 4.0
    assert got["dm_stat"] == pytest.approx(4.0)
    assert got["dm_p"] == pytest.approx(math.erfc(4.0 / math.sqrt(2)))  # 6.3e-5
    # The test is antisymmetric: swapping the forecasters flips the sign only.
    swapped = uncertainty.diebold_mariano(ref, model, lags=1)
    assert swapped["dm_stat"] == pytest.approx(-4.0)
    assert swapped["dm_p"] == pytest.approx(got["dm_p"])


def test_diebold_mariano_on_equal_and_constant_differences():
    ref = np.random.default_rng(0).exponential(size=50)
    assert uncertainty.diebold_mariano(ref, ref, 3) == {
        "loss_diff": 0.0,
        "dm_stat": 0.0,
        "dm_p": 1.0,
    }
    worse = uncertainty.diebold_mariano(ref + 0.1, ref, 3)
    assert worse["loss_diff"] == pytest.approx(0.1)
    assert worse["dm_stat"] == math.inf
    assert worse["dm_p"] == 0.0
    assert uncertainty.diebold_mariano(ref - 0.1, ref, 3)["dm_stat"] == -math.inf


def test_diebold_mariano_on_constant_differences_in_a_panel():
    # Times with 1 to 3 windows: a constant difference leaves every centred
    # per-time value at rounding error, which is no variance either, so the
    # statistic is +-inf as for one series, not a huge finite number.
    rng = np.random.default_rng(0)
    places = np.repeat(np.arange(40), rng.integers(1, 4, size=40))
    ref = rng.exponential(size=places.size)
    worse = uncertainty.diebold_mariano(ref + 0.1, ref, 3, positions=places)
    assert worse["loss_diff"] == pytest.approx(0.1)
    assert worse["dm_stat"] == math.inf
    assert worse["dm_p"] == 0.0
    better = uncertainty.diebold_mariano(ref - 0.1, ref, 3, positions=places)
    assert better["dm_stat"] == -math.inf
    assert uncertainty.diebold_mariano(ref, ref, 3, positions=places) == {
        "loss_diff": 0.0,
        "dm_stat": 0.0,
        "dm_p": 1.0,
    }


def test_diebold_mariano_p_value_is_about_uniform_under_the_null():
    # Same-distribution forecasters: p < 0.05 about 5% of the time.
    rng = np.random.default_rng(5)
    rejections = sum(
        uncertainty.diebold_mariano(rng.normal(size=300), rng.normal(size=300), 5)[
            "dm_p"
        ]
        < 0.05
        for _ in range(400)
    )
    assert 8 <= rejections <= 35


def test_compare_names_each_reference_and_uses_one_season_of_lags():
    model, ref = noisy_pair(0.3, n=480)
    got = uncertainty.compare(model, {"persistence": ref}, 24, 200, seed=0)
    assert list(got) == ["vs_persistence"]
    entry = got["vs_persistence"]
    assert set(entry) == {"value", "ci_low", "ci_high", "loss_diff", "dm_stat", "dm_p"}
    assert entry["dm_stat"] == uncertainty.diebold_mariano(model, ref, 23)["dm_stat"]
    assert entry["value"] == pytest.approx(1 - model.mean() / ref.mean())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: uncertainty.skill_interval(np.ones(5), np.ones(4), 2, 100, 0),
            r"model_loss has 5 windows but ref_loss 4; the losses must be paired",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(0), np.ones(0), 1, 100, 0),
            r"model_loss: need a non-empty 1-D array",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(4), np.ones((2, 2)), 1, 100, 0),
            r"ref_loss: need a non-empty 1-D array",
        ),
        (
            lambda: uncertainty.skill_interval(
                np.array([1.0, np.inf]), np.ones(2), 1, 100, 0
            ),
            r"model_loss: per-window losses must be finite",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(5), np.ones(5), 6, 100, 0),
            r"block length 6 must be between 1 and the number of windows 5",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(5), np.ones(5), 0, 100, 0),
            r"block length 0 must be between 1",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(5), np.ones(5), 2, 0, 0),
            r"samples must be >= 1, got 0",
        ),
        (
            lambda: uncertainty.skill_interval(np.ones(5), np.ones(5), 2, 10, 0, 1.0),
            r"level must be between 0 and 1, got 1.0",
        ),
        (
            lambda: uncertainty.diebold_mariano(np.ones(5), np.zeros(5), 5),
            r"lags must be between 0 and n - 1 = 4, got 5",
        ),
        (
            lambda: uncertainty.newey_west_variance(np.ones(5), -1),
            r"lags must be between 0 and n - 1 = 4, got -1",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- per-window losses (metrics.window_losses) ----------------------------------

REGRESSION = {"type": "regression"}
CLASSIFICATION = {"type": "classification", "classes": ["a", "b", "c"]}


def test_regression_window_losses_are_absolute_errors():
    actual = np.array([10.0, 12.0, 8.0])
    forecast = np.array([11.0, 9.0, 8.0])
    losses = metrics.window_losses(REGRESSION, actual, forecast)
    assert_array_equal(losses, [1.0, 3.0, 0.0])
    assert losses.mean() == metrics.score_task(REGRESSION, actual, forecast)["mae"]


def test_classification_window_losses_are_log_losses():
    actual = np.array([0, 2, 1])
    proba = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.0, 0.0, 1.0]])
    losses = metrics.window_losses(CLASSIFICATION, actual, proba)
    # A zero probability is clipped to 1e-7 (and the row renormalised), as in
    # the log-loss score, so a confident miss costs about -log(1e-7) = 16.1.
    expected = [-math.log(0.5), -math.log(0.8), -math.log(1e-7 / (1 + 2e-7))]
    assert_allclose(losses, expected, rtol=1e-12)
    score = metrics.score_task(CLASSIFICATION, actual, proba)["log_loss"]
    assert losses.mean() == pytest.approx(score, rel=1e-9)


# --- macro-F1 difference -----------------------------------------------------


def test_class_counts_by_hand():
    actual = np.array([0, 1, 1, 2])
    named = np.array([0, 1, 2, 2])
    counts = uncertainty.class_counts(actual, named, 3)  # 9 x 4: TP, FP, FN rows
    assert_array_equal(counts[0:3], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])  # TP
    assert_array_equal(counts[3:6], [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])  # FP
    assert_array_equal(counts[6:9], [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])  # FN


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_of_counts_matches_scikit_learn(seed):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 4, size=(50, 3))
    named = np.where(rng.random((50, 3)) < 0.6, actual, rng.integers(0, 3, (50, 3)))
    counts = uncertainty.class_counts(actual, named, 4).sum(axis=1)
    expected = f1_score(actual.ravel(), named.ravel(), average="macro")
    assert uncertainty.macro_f1_of_counts(counts, 4) == pytest.approx(expected)


def test_macro_f1_difference_of_a_forecaster_with_itself_is_exactly_zero():
    actual = np.array([0, 1, 2, 0, 1, 2, 2, 1] * 5)
    named = np.roll(actual, 1)
    out = uncertainty.macro_f1_difference(actual, named, named, 3, 4, 200, 0)
    assert out == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_macro_f1_difference_of_perfect_vs_wrong_is_one_and_noise_widens_it():
    rng = np.random.default_rng(0)
    actual = rng.integers(0, 3, 300)
    wrong = (actual + 1) % 3  # never right: macro-F1 0
    out = uncertainty.macro_f1_difference(actual, actual, wrong, 3, 10, 300, 0)
    assert out == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    # A model right 70% of the time against one right 60%: an interval of
    # positive width around the full-sample difference; reruns are identical.
    model = np.where(rng.random(300) < 0.7, actual, wrong)
    ref = np.where(rng.random(300) < 0.6, actual, wrong)
    a = uncertainty.macro_f1_difference(actual, model, ref, 3, 10, 300, 7)
    assert a["ci_low"] < a["value"] < a["ci_high"]
    assert a == uncertainty.macro_f1_difference(actual, model, ref, 3, 10, 300, 7)
    assert set(
        uncertainty.compare_macro_f1(actual, model, {"x": ref}, 3, 10, 300, 7)
    ) == {"vs_x"}


# --- panels: resampling by time, all series together ----------------------------


def test_time_positions_by_hand():
    # Two series over times 10, 20, 30 (series by series, as evaluate orders
    # them); a third series only at 20: each window's place among 10, 20, 30.
    instants = np.array([10, 20, 30, 10, 20, 30, 20])
    assert_array_equal(uncertainty.time_positions(instants), [0, 1, 2, 0, 1, 2, 1])
    # One series: no shared time, so every window is its own place.
    assert uncertainty.time_positions(np.array([5, 7, 9])) is None


def test_sums_by_time_by_hand():
    losses = np.array([[1.0, 2.0, 3.0, 10.0, 20.0], [0.0, 1.0, 0.0, 1.0, 0.0]])
    got = uncertainty.sums_by_time(losses, np.array([0, 1, 2, 0, 2]))
    assert_array_equal(got, [[11.0, 2.0, 23.0], [1.0, 1.0, 0.0], [2.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="positions has 4 entries for 5 windows"):
        uncertainty.sums_by_time(losses, np.array([0, 1, 2, 0]))


def duplicated_panel(model: np.ndarray, ref: np.ndarray):
    """The same series twice, series by series, and each window's time place."""
    n = model.size
    places = np.concatenate([np.arange(n), np.arange(n)])
    return np.tile(model, 2), np.tile(ref, 2), places


def test_a_series_repeated_in_a_panel_adds_no_information():
    # Two series whose errors are the same at every time are one series' worth
    # of evidence. Resampled by time, the panel's interval and DM statistic are
    # the single series'; resampled as one long sequence of windows (the two
    # copies' blocks drawn independently) the interval is too narrow.
    model, ref = noisy_pair(0.5, n=480)
    panel_model, panel_ref, places = duplicated_panel(model, ref)
    alone = uncertainty.compare(model, {"r": ref}, 24, 500, seed=3)["vs_r"]
    by_time = uncertainty.compare(
        panel_model, {"r": panel_ref}, 24, 500, seed=3, positions=places
    )["vs_r"]
    assert by_time == pytest.approx(alone, rel=1e-12)
    by_window = uncertainty.compare(panel_model, {"r": panel_ref}, 24, 500, seed=3)
    width = by_window["vs_r"]["ci_high"] - by_window["vs_r"]["ci_low"]
    assert width < 0.8 * (alone["ci_high"] - alone["ci_low"])
    assert abs(by_window["vs_r"]["dm_stat"]) > 1.3 * abs(alone["dm_stat"])


def test_macro_f1_difference_of_a_repeated_series_is_the_series_own():
    rng = np.random.default_rng(2)
    actual = rng.integers(0, 3, 240)
    model = np.where(rng.random(240) < 0.8, actual, (actual + 1) % 3)
    ref = np.where(rng.random(240) < 0.7, actual, (actual + 2) % 3)
    alone = uncertainty.macro_f1_difference(actual, model, ref, 3, 12, 400, 5)
    places = np.concatenate([np.arange(240), np.arange(240)])
    twice = [np.tile(x, 2) for x in (actual, model, ref)]
    got = uncertainty.compare_macro_f1(
        twice[0], twice[1], {"r": twice[2]}, 3, 12, 400, 5, positions=places
    )
    assert got["vs_r"] == pytest.approx(alone, rel=1e-12)


def test_uneven_panel_means_are_window_means_and_dm_uses_the_ratio_variance():
    # Times with 1 or 2 windows: every resample's mean is its windows' loss
    # sum over their count, and the full-sample skill is the plain window mean.
    rng = np.random.default_rng(6)
    places = np.sort(np.concatenate([np.arange(60), rng.choice(60, 30, replace=False)]))
    model, ref = noisy_pair(0.4, n=places.size, seed=1)
    got = uncertainty.skill_interval(model, ref, 6, 300, seed=2, positions=places)
    assert got["value"] == pytest.approx(1 - model.mean() / ref.mean())
    sums = uncertainty.sums_by_time(np.stack([model, ref]), places)
    means = uncertainty.block_bootstrap_means(sums, 6, 300, seed=2)
    skills = 1 - (means[:, 0] / means[:, 2]) / (means[:, 1] / means[:, 2])
    assert got["ci_low"] == pytest.approx(np.quantile(skills, 0.025))
    assert got["ci_high"] == pytest.approx(np.quantile(skills, 0.975))
    # Diebold-Mariano: the Newey-West variance of (D_t - mean(d) c_t) / mean(c).
    diff = model - ref
    summed = np.bincount(places, weights=diff)
    count = np.bincount(places).astype(float)
    z = (summed - diff.mean() * count) / count.mean()
    stat = diff.mean() / math.sqrt(uncertainty.newey_west_variance(z, 5) / z.size)
    dm = uncertainty.diebold_mariano(model, ref, 5, positions=places)
    assert dm["dm_stat"] == pytest.approx(stat)
    assert dm["loss_diff"] == pytest.approx(diff.mean())
