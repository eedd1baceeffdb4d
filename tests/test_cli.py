"""The command line, in process: files, the summary line, errors."""

import json

import pytest

from jaxil import cli

SUMMARY_KEYS = {"algo", "env", "dataset", "seeds", "steps", "wall_s", "return", "normalized_score"}


def run_cli(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "bc", "--env", "cartpole", "--seed", "4", "--seeds", "2", "--steps", "200", "--eval-every",
            "100", "--hidden", "32", "32", "--eval-episodes", "2", "--num-expert-trajs", "5", "--out", str(out), "--no-progress"]
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
    ],
)
def test_bad_input_exits_with_a_clear_message(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 1 and message in err


def test_data_list_json(capsys):
    code, stdout, _ = run_cli(["data", "list", "--json"], capsys)
    rows = json.loads(stdout)
    assert code == 0 and {r["env"] for r in rows} >= {"pendulum", "cartpole", "acrobot", "mountaincar"}
