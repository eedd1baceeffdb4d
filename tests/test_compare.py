"""Comparisons across runs and tasks (rliable): scores from run directories, aggregates,
performance profiles and probabilities of improvement against hand computation, and the
plot command."""

import csv
import json

import numpy as np
import pytest
from scipy import stats

from jaxil import JaxilError, cli, compare

# per label and env: each seed's final normalized score
RUNS = {
    ("bc", "hopper"): [10.0, 50.0, 90.0],
    ("bc", "walker2d"): [20.0, 30.0, 40.0],
    ("gail", "hopper"): [60.0, 70.0, 80.0],
    ("gail", "walker2d"): [95.0, 100.0, 105.0],
}


def write_run(directory, algo: str, env: str, finals: list[float]) -> str:
    """A run directory as jaxil train leaves it: config.json and two chunks of metrics.csv."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"algo": algo, "env": env, "seeds": list(range(len(finals)))}))
    with (directory / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["chunk", "seed", "normalized_score", "step"])
        w.writeheader()
        for chunk in (1, 2):
            for seed, final in enumerate(finals):
                w.writerow({"chunk": chunk, "seed": seed, "normalized_score": final * chunk / 2, "step": 100 * chunk})
    return str(directory)


@pytest.fixture
def runs(tmp_path):
    return [write_run(tmp_path / f"{a}-{e}", a, e, v) for (a, e), v in RUNS.items()]


def test_scores_are_each_labels_seeds_by_task_at_the_last_evaluation(runs):
    scores, tasks = compare.final_scores(runs)
    assert tasks == ["hopper", "walker2d"]
    np.testing.assert_array_equal(scores["bc"], np.array([RUNS["bc", "hopper"], RUNS["bc", "walker2d"]]).T)


def test_aggregates_profiles_and_improvement_equal_hand_computation(runs):
    scores, _ = compare.final_scores(runs)
    agg = compare.aggregate(scores, reps=200)
    bc_all = RUNS["bc", "hopper"] + RUNS["bc", "walker2d"]
    assert agg["bc"]["iqm"]["estimate"] == pytest.approx(stats.trim_mean(bc_all, 0.25))
    assert agg["bc"]["mean"]["estimate"] == pytest.approx(np.mean(bc_all))
    assert agg["gail"]["optimality_gap"]["estimate"] == pytest.approx(np.mean([100 - min(x, 100) for x in
                                                                             RUNS["gail", "hopper"] + RUNS["gail", "walker2d"]]))
    lo, hi = agg["bc"]["iqm"]["ci95"]
    assert min(bc_all) <= lo <= agg["bc"]["iqm"]["estimate"] <= hi <= max(bc_all)
    # the profile at τ: the fraction of bc's six runs scoring above it
    taus = np.array([0.0, 25.0, 45.0, 100.0])
    profiles, bands = compare.performance_profiles(scores, taus, reps=200)
    np.testing.assert_allclose(profiles["bc"], [np.mean(np.array(bc_all) > t) for t in taus])
    assert bands["bc"].shape == (2, len(taus))
    # every gail run beats every bc run on walker2d; on hopper 50 and 90 of bc's do not always lose:
    # P = mean over tasks of P(X > Y) + ½ P(X = Y), by pairs of runs
    estimates, _ = compare.probability_of_improvement(scores, reps=200)
    hopper = np.mean([(g > b) + 0.5 * (g == b) for g in RUNS["gail", "hopper"] for b in RUNS["bc", "hopper"]])
    assert float(estimates["bc,gail"]) == pytest.approx(1 - (hopper + 1.0) / 2)


def test_plot_draws_a_performance_profile_from_two_run_directories(tmp_path, capsys):
    a = write_run(tmp_path / "a", "bc", "hopper", RUNS["bc", "hopper"])
    b = write_run(tmp_path / "b", "gail", "hopper", RUNS["gail", "hopper"])
    for kind in ("profile", "improvement"):
        assert cli.main(["plot", a, b, "--kind", kind, "--reps", "100", "--out", str(tmp_path / f"{kind}.png")]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (tmp_path / f"{kind}.png").stat().st_size > 0 and result["tasks"] == ["hopper"]
    assert result["probability_of_improvement"]["bc,gail"]["estimate"] == pytest.approx(
        np.mean([(b > g) + 0.5 * (b == g) for b in RUNS["bc", "hopper"] for g in RUNS["gail", "hopper"]]))
    assert cli.main(["plot", a, b, "--out", str(tmp_path / "curves.png")]) == 0  # learning curves, both runs
    assert (tmp_path / "curves.png").is_file()


def test_comparisons_refuse_what_they_cannot_compare(tmp_path, runs):
    with pytest.raises(JaxilError, match="'bc' has no run on walker2d"):
        compare.final_scores([runs[0], runs[2], runs[3]])
    with pytest.raises(JaxilError, match="two runs of 'bc' on 'hopper'"):
        compare.final_scores([runs[0], runs[0]])
    fewer = write_run(tmp_path / "few", "bc", "walker2d", [1.0, 2.0])
    with pytest.raises(JaxilError, match="different numbers of seeds"):
        compare.final_scores([runs[0], fewer])
    with pytest.raises(JaxilError, match="one per run"):
        compare.final_scores(runs, labels=["x"])
    scores, _ = compare.final_scores([runs[0]])
    with pytest.raises(JaxilError, match="two or more labels"):
        compare.probability_of_improvement(scores)
