"""Sweeps: a grid over float fields is one program whose runs equal lone runs of each
point; static fields split it into programs; the command line writes the table."""

import json

import numpy as np
import pytest

from jaxil import JaxilError, cli, data, driver, envs, sweep
from jaxil.evaluation import Reference
from jaxil.il import bc

TINY = dict(hidden=(16,), steps=40, eval_every=20, eval_episodes=2, batch_size=32)
FLAGS = ["--hidden", "16", "--steps", "40", "--eval-every", "20", "--eval-episodes", "2", "--batch-size", "32",
         "--num-expert-trajs", "2", "--no-progress"]


def test_a_2x2_grid_with_2_seeds_equals_lone_runs_of_each_point(tmp_path, capsys):
    args = ["sweep", "bc", "--env", "pendulum", "--grid", "lr=1e-3,3e-3", "--grid", "ent_weight=0,0.01",
            "--seeds", "2", "--out", str(tmp_path / "sweep"), *FLAGS]
    assert cli.main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["programs"] == "one program" and len(summary["table"]) == 4
    assert [(r["lr"], r["ent_weight"]) for r in summary["table"]] == [(1e-3, 0.0), (1e-3, 0.01), (3e-3, 0.0),
                                                                      (3e-3, 0.01)]
    for name in ("table.csv", "table.md", "normalized_score.png", "sweep.json"):
        assert (tmp_path / "sweep" / name).stat().st_size > 0
    env = envs.make("pendulum")
    eps, info = data.load(data.default_dataset_id("pendulum"), env)
    ref = Reference(info.random_return, info.expert_return)
    for row in summary["table"]:
        cfg = bc.Config(**TINY, lr=row["lr"], ent_weight=row["ent_weight"])
        train = bc.make_train(cfg, data.expert_data(eps[:2]), env, ref)
        lone = [driver.run(train, [s], tmp_path / f"lone-{row['lr']}-{row['ent_weight']}-{s}",
                           progress=False)[1][-1]["normalized_score"] for s in (0, 1)]
        # the swept program reads lr and the weight as inputs, a lone run as constants: float32 rounding
        np.testing.assert_allclose(row["per_seed"], lone, rtol=1e-5)
        assert row["iqm"] == pytest.approx(np.mean(lone), rel=1e-5)
    # a second call resumes every run at its end: nothing is trained again
    assert cli.main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["table"] == summary["table"]


def test_static_fields_split_the_sweep_and_bad_grids_are_refused(tmp_path):
    result = sweep.run("bc", "pendulum", {"batch_size": [16, 32], "lr": [1e-3]}, [0], tmp_path / "s",
                       overrides=TINY, num_expert_trajs=2)
    assert result["groups"] == 2 and "2 programs (the grid varies static fields: batch_size)" in result["programs"]
    assert [r["batch_size"] for r in result["table"]] == [16, 32]
    with pytest.raises(JaxilError, match="has no field 'lrr'"):
        sweep.parse_grid(["lrr=1,2"], bc.Config)
    with pytest.raises(JaxilError, match="'fast' is not a float"):
        sweep.parse_grid(["lr=fast"], bc.Config)
    with pytest.raises(JaxilError, match="only fields holding one number"):
        sweep.parse_grid(["hidden=8"], bc.Config)
    with pytest.raises(JaxilError, match="NAME=V1,V2"):
        sweep.parse_grid(["lr"], bc.Config)
    assert cli.main(["sweep", "bc", "--env", "pendulum", "--grid", "lr=1e-3", "--num-processes", "2"]) == 1
    with pytest.raises(JaxilError, match=r"grid point \{'lr': -1.0\}: lr must be positive"):
        sweep.run("bc", "pendulum", {"lr": [1e-3, -1.0]}, [0], tmp_path / "bad", overrides=TINY)
