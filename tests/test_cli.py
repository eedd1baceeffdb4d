"""The command line, in process: files, the summary line, errors."""

import json

import pytest

from conftest import read_events
from jaxil import cli, driver

SUMMARY_KEYS = {"algo", "env", "dataset", "seeds", "steps", "wall_s", "return", "normalized_score"}


def run_cli(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "bc", "--env", "cartpole", "--seed", "4", "--seeds", "2", "--steps", "200", "--eval-every",
            "100", "--hidden", "32", "32", "--eval-episodes", "2", "--num-expert-trajs", "5", "--out", str(out), "--no-progress",
            "--log", "tensorboard"]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert SUMMARY_KEYS <= summary.keys() and summary["seeds"] == [4, 5] and summary["steps"] == 200
    assert summary == json.loads((out / "summary.json").read_text())
    ns = summary["normalized_score"]
    assert {"mean", "iqm", "ci95", "per_seed"} <= ns.keys() and len(ns["per_seed"]) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["steps"] == 200 and config["num_expert_trajs"] == 5
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 and rows[0].startswith("chunk,seed,")
    # --log tensorboard: each seed's events hold every metric of metrics.csv, and its hyperparameters
    for seed in (4, 5):
        scalars, hparams = read_events(out / "tensorboard" / f"seed{seed}")
        for row in (r for r in driver.read_metrics(out) if r["seed"] == seed):
            for k, v in row.items():
                if k not in ("chunk", "seed", "step"):
                    assert scalars[k][int(row["step"])] == pytest.approx(v, rel=1e-6, abs=1e-6), k
        assert {"algo", "env", "hidden", "steps"} <= hparams
    code, stdout, _ = run_cli(["eval", str(out), "--episodes", "3"], capsys)
    assert code == 0
    ev = json.loads(stdout.strip().splitlines()[-1])
    assert ev["seeds"] == [4, 5] and ev["eval_episodes"] == 3 and len(ev["return"]["per_seed"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "bc", "--env", "pendulm"], "unknown env 'pendulm'"),
        (["train", "gial", "--env", "pendulum"], "unknown algorithm 'gial'"),
        (["train", "bc", "--env", "pendulum", "--dataset", "no/such/data-v0"], "unknown dataset"),
        (["train", "bc", "--env", "pendulum", "--num-expert-trajs", "500"], "fewer than the 500 requested"),
        (["eval", "/nonexistent/run"], "not a jaxil run directory"),
        (["train", "bc", "--env", "pendulum", "--log", "wandb"], "unknown --log 'wandb'; choose one of: csv, tensorboard"),
    ],
)
def test_bad_input_exits_with_a_clear_message(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 1 and message in err


def test_data_list_json(capsys):
    code, stdout, _ = run_cli(["data", "list", "--json"], capsys)
    rows = json.loads(stdout)
    assert code == 0 and {r["env"] for r in rows} >= {"pendulum", "cartpole", "acrobot", "mountaincar"}


@pytest.mark.parametrize("algo", list(cli.ALGOS))
def test_every_algorithm_has_help_and_valid_defaults(algo, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", algo, "-h"])
    assert exit_info.value.code == 0
    assert "--steps" in capsys.readouterr().out
    cli.algo_module(algo).Config()  # the defaults themselves pass validation


@pytest.mark.parametrize(
    "algo, flags",
    [
        ("ppo", ["--steps", "512", "--eval-every", "256", "--num-envs", "2", "--rollout-steps", "128"]),
        ("sac", ["--steps", "64", "--eval-every", "32", "--warmup-steps", "64", "--buffer-size", "1000",
                 "--batch-size", "32", "--hidden", "16"]),
    ],
)
def test_rl_solvers_train_from_the_cli(algo, flags, tmp_path, capsys):
    env = "cartpole" if algo == "ppo" else "pendulum"
    code, stdout, err = run_cli(["train", algo, "--env", env, "--out", str(tmp_path), "--no-progress",
                                 "--eval-episodes", "2", *flags], capsys)
    assert code == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["steps"] == int(flags[1]) and summary["algo"] == algo
    assert "normalized_score" in summary  # scored against the shipped expert data's references


def test_recoil_takes_a_suboptimal_dataset_and_evaluates(tmp_path, capsys):
    out = tmp_path / "recoil"
    args = ["train", "recoil", "--env", "pendulum", "--steps", "20", "--eval-every", "10", "--hidden", "8",
            "--eval-episodes", "2", "--out", str(out), "--no-progress"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["suboptimal_dataset"] == "jaxil/pendulum/medium-replay-v0"
    code, stdout, err = run_cli(["eval", str(out), "--episodes", "2"], capsys)
    assert code == 0, err
    code, _, err = run_cli(args[:4] + ["--suboptimal-dataset", "no/such/data-v0", "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and "unknown dataset" in err


def test_mujoco_runs_take_the_datasets_backend(capsys):
    """Without --backend, an offline run on shipped MuJoCo data uses the physics it was recorded with."""
    from jaxil import data

    recorded = data.recorded_backend("jaxil/hopper/expert-v0")
    assert recorded in ("mjx", "positional")
    _, run_config, _ = cli.build("bc", "hopper", None, cli.algo_module("bc").Config(hidden=(8,)),
                                     None, 2)
    assert run_config["backend"] == recorded


def test_help_of_subcommands_exits_zero(capsys):
    for args in (["train", "--help"], ["data", "--help"], ["train", "-h"]):
        code, out, _ = run_cli(args, capsys)
        assert code == 0 and "usage: jaxil" in out


def test_presets_follow_the_env_and_yield_to_flags(tmp_path, capsys):
    """Classic control starts from small settings, printed and recorded; a flag wins."""
    from jaxil import presets

    family, overrides = presets.preset("gail", "pendulum")
    assert family == "classic" and overrides["steps"] == 12_000 and overrides["hidden"] == (64, 64)
    assert presets.preset("gail", "hopper") == ("mujoco", {})  # CleanIL's defaults
    assert presets.preset("sqil", "cartpole")[1]["lr"] != presets.preset("sqil", "pendulum")[1]["lr"]
    args = cli.train_args_class("gail", ["--env", "pendulum"])
    assert args(env="pendulum").config.steps == 12_000
    assert cli.train_args_class("gail", ["--env=hopper"])(env="hopper").config.steps == 1_000_000
    on_policy = cli.train_args_class("gail", ["--env", "pendulum", "--generator", "ppo"])(env="pendulum").config
    assert on_policy.generator_config().num_envs == 16 and on_policy.steps % (16 * 128) == 0
    out = tmp_path / "sac"
    code, stdout, err = run_cli(["train", "sac", "--env", "pendulum", "--steps", "64", "--eval-every", "32",
                                 "--warmup-steps", "64", "--hidden", "8", "--batch-size", "16",
                                 "--eval-episodes", "2", "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    assert "classic preset" in err and "buffer_size=50000" in err
    config = json.loads((out / "config.json").read_text())
    assert config["preset"]["family"] == "classic"
    assert config["config"]["buffer_size"] == 50_000 and config["config"]["steps"] == 64  # preset, then the flag
    assert cli.train_args_class("gail", ["--env", "pendulum", "--preset", "none"])(env="pendulum").config.steps == 1_000_000
    code, _, err = run_cli(["train", "sac", "--env", "pendulum", "--preset", "tiny"], capsys)
    assert code == 1 and "--preset must be one of auto, none" in err


def test_a_budget_below_one_evaluation_interval_runs_one_chunk(capsys, tmp_path):
    code, stdout, err = run_cli(["train", "bc", "--env", "pendulum", "--steps", "30", "--hidden", "8",
                                 "--eval-episodes", "2", "--num-expert-trajs", "2", "--out", str(tmp_path),
                                 "--no-progress"], capsys)
    assert code == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["steps"] == 30  # one chunk of 30 updates, evaluated at its end (eval_every is 2000)


def test_importing_jaxil_keeps_stdout_clean():
    """stdout carries the run's JSON summary; mujoco.mjx's "Failed to import warp" must not."""
    import subprocess
    import sys

    code = "import jaxil.rl.ppo, jaxil.envs.brax_envs, brax"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
