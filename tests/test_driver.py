"""The chunked driver: per-seed exactness, exact resume, clear errors."""


import jax
import pytest

from conftest import read_events, seed_slice, tree_equal
from jaxil import JaxilError, driver, envs
from jaxil.rl import ppo

SEEDS = [3, 4]


@pytest.fixture(scope="module")
def ppo_train():
    cfg = ppo.Config(steps=4096, eval_every=1024, num_envs=4, rollout_steps=64, eval_episodes=2)
    return ppo.make_train(cfg, envs.make("cartpole"))


@pytest.fixture(scope="module")
def uninterrupted(ppo_train, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    carry, rows = driver.run(ppo_train, SEEDS, out, progress=False)
    return carry, rows


def test_driver_seed_equals_lone_run(ppo_train, uninterrupted):
    carry, rows = uninterrupted
    for i, s in enumerate(SEEDS):
        lone, metrics = jax.jit(ppo_train)(jax.random.PRNGKey(s))
        assert tree_equal(seed_slice(carry.state, i), lone)
        assert [r["eval_return"] for r in rows if r["seed"] == s] == [float(v) for v in metrics["eval_return"]]


def test_kill_and_resume_gives_the_uninterrupted_result(ppo_train, uninterrupted, tmp_path):
    # Killed after chunk 3 with the last checkpoint at chunk 2, and a torn CSV line.
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=3, checkpoint_every=2)
    assert sorted({r["chunk"] for r in driver.read_metrics(tmp_path)}) == [1, 2, 3]
    with (tmp_path / driver.CSV_NAME).open("a") as f:
        f.write("4,3,0.1")
    carry, rows = driver.run(ppo_train, SEEDS, tmp_path, progress=False, checkpoint_every=2)
    assert tree_equal(carry.state, uninterrupted[0].state)
    assert rows == uninterrupted[1]


def test_tensorboard_events_of_a_resumed_run_are_the_uninterrupted_runs_metrics(ppo_train, uninterrupted, tmp_path):
    # killed after chunk 3, checkpointed at 2: chunk 3's events are written twice, the first purged
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=3, checkpoint_every=2, log="tensorboard")
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, checkpoint_every=2, log="tensorboard")
    for seed in SEEDS:
        scalars, _ = read_events(tmp_path / "tensorboard" / f"seed{seed}")
        rows = [r for r in uninterrupted[1] if r["seed"] == seed]
        assert scalars["eval_return"] == pytest.approx({int(r["step"]): r["eval_return"] for r in rows})
        assert set(scalars) == set(rows[0]) - {"chunk", "seed", "step"}


def test_resume_in_the_other_seed_mode(ppo_train, uninterrupted, tmp_path):
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=2, vectorize=False)
    carry, rows = driver.run(ppo_train, SEEDS, tmp_path, progress=False, vectorize=True)
    assert sorted({r["chunk"] for r in rows}) == list(range(1, ppo_train.num_chunks + 1))
    assert carry.chunk.tolist() == [ppo_train.num_chunks] * 2


def test_missing_metrics_on_resume_is_a_clear_error(ppo_train, tmp_path):
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=2)
    (tmp_path / driver.CSV_NAME).unlink()
    with pytest.raises(JaxilError, match="lacks metrics.*--no-resume"):
        driver.run(ppo_train, SEEDS, tmp_path, progress=False)


def test_resume_refuses_a_different_config(ppo_train, tmp_path):
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=1, run_config={"lr": 1})
    with pytest.raises(JaxilError, match="different configuration.*lr"):
        driver.run(ppo_train, SEEDS, tmp_path, progress=False, run_config={"lr": 2})


def test_resume_names_a_field_newer_than_the_saved_run(ppo_train, tmp_path):
    saved = {"algo": "sac", "config": {"lr": 1.0}}
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=1, run_config=saved)
    newer = {"algo": "sac", "config": {"lr": 1.0, "absorbing_terminal": False}}
    with pytest.raises(JaxilError, match=r"config\.absorbing_terminal \(not in the saved run\).*by hand"):
        driver.run(ppo_train, SEEDS, tmp_path, progress=False, run_config=newer)


def test_corrupt_checkpoint_is_a_clear_error(ppo_train, tmp_path):
    driver.run(ppo_train, SEEDS, tmp_path, progress=False, stop_after=1)
    step_dir = next((tmp_path / driver.CKPT_DIR).glob("1"))
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"garbage")
    with pytest.raises(JaxilError, match="could not be restored.*--no-resume"):
        driver.run(ppo_train, SEEDS, tmp_path, progress=False)
    carry, rows = driver.run(ppo_train, SEEDS, tmp_path, progress=False, resume=False)
    assert max(r["chunk"] for r in rows) == ppo_train.num_chunks


def test_stop_when_ends_early_and_a_rerun_trains_no_further(ppo_train, uninterrupted, tmp_path):
    at_two = lambda rows: max(r["chunk"] for r in rows) >= 2  # noqa: E731
    carry, rows = driver.run(ppo_train, SEEDS, tmp_path, progress=False, checkpoint_every=3, stop_when=at_two)
    assert carry.chunk.tolist() == [2, 2]
    assert rows == [r for r in uninterrupted[1] if r["chunk"] <= 2]
    again, rows_again = driver.run(ppo_train, SEEDS, tmp_path, progress=False, checkpoint_every=3, stop_when=at_two)
    assert tree_equal(again, carry) and rows_again == rows


def test_zero_size_state_arrays_checkpoint_and_resume(tmp_path):
    """MuJoCo (mjx) states hold zero-size arrays, which orbax alone refuses to save."""
    import jax.numpy as jnp

    from jaxil.loop import Train

    train = Train(
        init=lambda k: {"x": jax.random.normal(k, (2,)), "act": jnp.zeros((0,))},
        step=lambda s: ({"x": 0.5 * s["x"] + 1.0, "act": s["act"]}, {"x0": s["x"][0]}),
        evaluate=lambda s, k: {"eval_return": jnp.sum(s["x"])},
        num_chunks=4,
        steps_per_chunk=3,
    )
    full, rows = driver.run(train, SEEDS, tmp_path / "full", progress=False)
    driver.run(train, SEEDS, tmp_path / "cut", progress=False, stop_after=2)
    resumed, resumed_rows = driver.run(train, SEEDS, tmp_path / "cut", progress=False)
    assert resumed.state["act"].shape == (2, 0)
    assert tree_equal(resumed, full) and resumed_rows == rows


def test_recorded_learning_curve_is_per_seed_in_chunk_order(tmp_path):
    """experiments/record.py turns metrics.csv into the results file's curves: one list per
    seed in chunk order, episode lengths beside returns, a torn last line left out."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from record import learning_curve

    (tmp_path / driver.CSV_NAME).write_text(
        "chunk,seed,env_steps,eval_length,normalized_score\n"
        "1,0,100,20,5.0\n1,1,100,30,6.0\n2,1,200,40,8.0\n2,0,200,50,7.0\n3,0,300,"
    )
    curve = learning_curve(tmp_path)
    assert curve == {
        "x": "env_steps", "metric": "normalized_score", "points": [100, 200],
        "per_seed": {"0": [5.0, 7.0], "1": [6.0, 8.0]},
        "eval_length_per_seed": {"0": [20.0, 50.0], "1": [30.0, 40.0]},
    }


def test_seeds_spread_over_devices_give_each_seed_its_one_device_result(tmp_path):
    """8 seeds over 1, 2 and 4 host CPU devices (a subprocess with 4 forced host devices):
    every seed's metrics agree with the one-device run to float32 rounding. They are not
    bit-equal: XLA compiles the vmapped program for the seeds each device holds (8, 4 or
    2), and the batch size changes how matmuls and sums are blocked (measured: ≤ 1e-6
    relative). A run stopped on 4 devices resumes on 2."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    from conftest import CACHE

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(CACHE))
    probe = Path(__file__).parent / "devices_probe.py"
    proc = subprocess.run([sys.executable, str(probe), str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["local_devices"] == 4
    assert [result[k]["devices"] for k in ("one", "two", "four", "resumed")] == [1, 2, 4, 2]
    assert result["default"] == [4, 3]  # all 4 for 4 seeds; 3 (the most that divide) for 6
    assert "must be a multiple of --devices (3)" in result["errors"][0]
    assert "sees 4 cpu device(s)" in result["errors"][1] and "drop --no-vectorize" in result["errors"][2]

    def table(rows):
        keys = [k for k in rows[0] if isinstance(rows[0][k], float) and k != "wall_s"]
        return np.array([[r[k] for k in keys] for r in sorted(rows, key=lambda r: (r["chunk"], r["seed"]))])

    one = table(result["one"]["rows"])
    assert one.shape[0] == 16  # 2 chunks × 8 seeds
    for k in ("two", "four", "resumed"):
        np.testing.assert_allclose(table(result[k]["rows"]), one, rtol=1e-5, atol=1e-6, err_msg=k)


def test_a_two_process_run_writes_the_single_process_summary(tmp_path):
    """Two local CPU processes (jax.distributed, gloo collectives) each run 2 of 4 seeds;
    process 0 gathers them into the summary a single process writes, number for number."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from conftest import CACHE
    from jaxil import hosts

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    flags = ["--hidden", "16", "--steps", "40", "--eval-every", "20", "--eval-episodes", "2", "--batch-size", "32",
             "--num-expert-trajs", "2", "--no-progress", "--seeds", "4"]
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(CACHE))
    train = [sys.executable, "-m", "jaxil.cli", "train", "bc", "--env", "pendulum", *flags]
    job = ["--num-processes", "2", "--coordinator-address", f"localhost:{port}", "--init-timeout", "120"]
    procs = [subprocess.Popen([*train, "--out", str(tmp_path / "multi"), *job, "--process-id", str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][1][-2000:] + outs[1][1][-2000:]
    single = subprocess.run([*train, "--out", str(tmp_path / "single")], env=env, capture_output=True, text=True,
                            timeout=240)
    assert single.returncode == 0, single.stderr[-2000:]
    multi, one = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("multi", "single"))
    assert json.loads(outs[1][0].strip().splitlines()[-1]) == {"process": 1, "seeds": [2, 3],
                                                              "out": str(tmp_path / "multi" / "process-1")}
    assert not (tmp_path / "multi" / "process-1" / "summary.json").exists()
    assert multi["seeds"] == one["seeds"] == [0, 1, 2, 3] and multi["steps"] == one["steps"] == 40
    assert multi["return"] == one["return"] and multi["normalized_score"] == one["normalized_score"]
    # each process's checkpoints are its own (orbax's multi-host saving writes from process 0
    # only): process 1's run evaluates alone
    from jaxil import cli

    assert driver.checkpoint_steps(tmp_path / "multi" / "process-1") == [1, 2]
    assert cli.main(["eval", str(tmp_path / "multi" / "process-1"), "--episodes", "2"]) == 0

    with pytest.raises(JaxilError, match="missing: --process-id"):
        hosts.settings("localhost:1", 2, None)
    with pytest.raises(JaxilError, match="must lie in 0..1 for --num-processes 2, got 2"):
        hosts.settings("localhost:1", 2, 2)
    with pytest.raises(JaxilError, match=r"--seeds \(3\) must be a multiple of --num-processes \(2\)"):
        hosts.share([0, 1, 2], hosts.settings("localhost:1", 2, 0))
