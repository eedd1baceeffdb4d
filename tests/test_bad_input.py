"""Bad input gets a clear error that names the problem and the fix; nothing runs on it.

Each class of fault found by trying jaxil as a new user would has a test here: Config
values out of range (scalars and sweeps), command-line values, run directories, datasets
and diverging runs."""

from __future__ import annotations

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, cli, configs

CONFIG_CLASSES = {name: cli.algo_module(name).Config for name in cli.ALGOS}
BAD_VALUES = {
    configs.POSITIVE: [0.0, -1e-3, math.nan, math.inf],
    configs.NONNEGATIVE: [-1.0, math.nan, math.inf],
    configs.UNIT: [1.5, -0.1, math.nan],
    configs.FINITE: [math.nan, -math.inf],
    configs.SIZE: [0, -5],
    configs.COUNT: [-1],
    configs.DECAY: [0.0, 1.5, math.nan],
    configs.NOT_NAN: [math.nan],
}


@pytest.mark.parametrize("algo", list(CONFIG_CLASSES))
def test_every_numeric_config_field_has_a_range(algo):
    """One table (configs.RANGES) knows the range of every number a Config holds."""
    Config = CONFIG_CLASSES[algo]
    unchecked = [n for n in configs.numeric_fields(Config) if n not in configs.RANGES and n not in configs.WIDTHS]
    assert not unchecked, f"{algo}: fields without a range in jaxil.configs.RANGES: {unchecked}"


@pytest.mark.parametrize("algo", list(CONFIG_CLASSES))
def test_every_out_of_range_value_is_refused_naming_the_field_and_flag(algo):
    Config = CONFIG_CLASSES[algo]
    checked = 0
    for name in configs.numeric_fields(Config):
        if name in configs.WIDTHS:
            bad_values = [(0,), (64, -5), 0]
        else:
            bad_values = BAD_VALUES[configs.RANGES[name]]
        for bad in bad_values:
            with pytest.raises(JaxilError, match=rf"^{name} must be .*--{name.replace('_', '-')}") as err:
                Config(**{name: bad})
            assert "got" in str(err.value)
            checked += 1
    assert checked >= 10


def test_sweeps_are_checked_element_by_element_and_traced_configs_pass():
    from jaxil.il import bc, iqlearn

    with pytest.raises(JaxilError, match=r"lr must be positive.*out of range: \[nan\]"):
        bc.Config(lr=jnp.array([1e-3, jnp.nan]))
    with pytest.raises(JaxilError, match=r"gamma must be in \[0, 1\].*out of range: \[1.5\]"):
        iqlearn.Config(gamma=np.array([0.9, 1.5]))
    with pytest.raises(JaxilError, match="l2_weight must be non-negative"):
        bc.Config(l2_weight=jnp.array([-0.1, 0.0]))
    # inside jit or vmap the values are not known: the Config is built, not checked
    lrs = jax.vmap(lambda lr: bc.Config().replace(lr=lr).lr)(jnp.array([1e-3, 2e-3]))
    np.testing.assert_allclose(lrs, [1e-3, 2e-3])


def test_unknown_activations_are_refused_when_the_config_is_built():
    from jaxil.il import gail

    with pytest.raises(JaxilError, match="disc_activation must be one of elu, gelu.*got 'swish'"):
        gail.Config(disc_activation="swish")


def test_booleans_are_not_numbers():
    from jaxil.il import bc

    with pytest.raises(JaxilError, match="lr must be positive"):
        bc.Config(lr=True)


def test_a_valid_default_config_of_every_algorithm_passes():
    for Config in CONFIG_CLASSES.values():
        assert dataclasses.is_dataclass(Config())


# --------------------------------------------------------------------------------------
# The command line: what a user types wrong gets one line naming it, before --out is touched.

def run_cli(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


TINY_BC = ["--hidden", "8", "--eval-episodes", "2", "--num-expert-trajs", "2", "--no-progress"]


@pytest.mark.parametrize("args, message", [
    (["--gamma", "1.5"], "gamma must be in [0, 1]"),
    (["--hidden", "0"], "hidden must be layer widths"),
    (["--hidden", "-5"], "hidden must be layer widths"),
    (["--actor-lr", "nan"], "actor_lr must be positive and finite"),
    (["--steps", "0"], "steps must be positive"),
])
def test_config_values_out_of_range_are_refused_before_the_run_dir_is_written(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:  # tyro reports the Config's error and exits 2
        cli.main(["train", "iqlearn", "--env", "pendulum", "--out", str(out), *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("seed, seeds", [(99_999_999_999, 1), (-1, 1), (2**31 - 1, 2)])
def test_seeds_outside_32_bits_are_refused(seed, seeds, tmp_path, capsys):
    code, _, err = run_cli(["train", "bc", "--env", "pendulum", "--seed", str(seed), "--seeds", str(seeds),
                            "--out", str(tmp_path / "r"), *TINY_BC], capsys)
    assert code == 1 and "seeds must lie in 0..2147483647" in err and not (tmp_path / "r").exists()


def test_out_must_be_a_writable_directory(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = run_cli(["train", "bc", "--env", "pendulum", "--steps", "10", "--out", str(afile), *TINY_BC], capsys)
    assert code == 1 and "is a file, not a directory" in err
    code, _, err = run_cli(["train", "bc", "--env", "pendulum", "--steps", "10", "--out", str(afile / "sub"), *TINY_BC],
                           capsys)
    assert code == 1 and "cannot create the run directory" in err


def test_a_second_writer_on_a_run_directory_is_refused_at_once(tmp_path, capsys):
    from jaxil import driver

    out = tmp_path / "run"
    out.mkdir()
    with driver.lock_run_dir(out):  # another process would hold it the same way
        code, _, err = run_cli(["train", "bc", "--env", "pendulum", "--steps", "10", "--out", str(out), *TINY_BC],
                               capsys)
    assert code == 1 and "another jaxil process is writing" in err
    assert not (out / "metrics.csv").exists() and not (out / "config.json").exists()
    code, _, err = run_cli(["train", "bc", "--env", "pendulum", "--steps", "10", "--out", str(out), *TINY_BC], capsys)
    assert code == 0, err  # released: the same command now runs


def test_ctrl_c_prints_one_line_saying_how_to_resume(monkeypatch, capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_train", interrupted)  # main looks commands up when it runs
    code, out, err = run_cli(["train", "bc", "--env", "pendulum"], capsys)
    assert code == 130 and err.strip().count("\n") == 0 and "resumes from its last checkpoint" in err


def test_output_json_never_holds_nan():
    text = cli.json_text({"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf, "e": 2}})
    assert text == '{"a": null, "b": [1.0, null], "c": {"d": null, "e": 2}}'


# --------------------------------------------------------------------------------------
# Diverging runs: stopped with a clear error; a finite checkpoint survives and evaluates.

def test_a_diverging_cli_run_stops_and_its_last_finite_checkpoint_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "bc", "--env", "pendulum", "--lr", "1e6", "--lr-schedule", "constant", "--steps", "10",
            "--eval-every", "1", "--out", str(out), *TINY_BC]
    code, stdout, err = run_cli(args, capsys)
    assert code == 1 and "the run diverged in chunk 2" in err and "not finite" in err and "Lower the learning" in err
    assert "last finite checkpoint is chunk 1" in err and not (out / "summary.json").exists()
    from jaxil import driver

    assert driver.checkpoint_steps(out) == [1]
    code, stdout, err = run_cli(["eval", str(out), "--episodes", "2"], capsys)
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["chunks"] == 1 and all(math.isfinite(r) for r in result["return"]["per_seed"])


def test_the_driver_never_checkpoints_a_non_finite_state(tmp_path):
    from jaxil import driver
    from jaxil.loop import Train

    # w grows 1e20-fold per step: finite after chunk 1, inf in chunk 2
    train = Train(init=lambda key: {"w": jnp.ones(())}, step=lambda s: ({"w": s["w"] * 1e20}, {"w": s["w"]}),
                  evaluate=lambda s, key: {}, num_chunks=4, steps_per_chunk=1)
    with pytest.raises(driver.DivergedError, match="chunk 2.*metric 'w'|chunk 2.*parameters"):
        driver.run(train, [0], tmp_path, progress=False)
    assert driver.checkpoint_steps(tmp_path) == [1]
    restored = driver.restore_latest(tmp_path, driver.abstract_carry(train, [0]))
    assert np.isfinite(np.asarray(restored.state["w"])).all()


# --------------------------------------------------------------------------------------
# Datasets recorded on another env than --env's.

def _external(store, monkeypatch, name, env_id, steps=5):
    import warnings

    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    rng = np.random.default_rng(0)
    bufs = [EpisodeBuffer(observations=rng.normal(size=(steps + 1, 4)).astype(np.float32),
                          actions=rng.integers(0, 2, steps), rewards=np.full(steps, 100.0),
                          terminations=np.r_[np.zeros(steps - 1, bool), True], truncations=np.zeros(steps, bool))
            for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(env=env_id) if env_id else dict(
            observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), action_space=gym.spaces.Discrete(2))
        minari.create_dataset_from_buffers(name, bufs, **kwargs)


def test_an_external_dataset_of_another_step_limit_is_refused_unless_allowed(tmp_path, monkeypatch):
    from jaxil import data, envs

    _external(tmp_path, monkeypatch, "other/cartpole/v0-v0", "CartPole-v0")
    cartpole = envs.make("cartpole")
    with pytest.raises(JaxilError, match="200-step episode limit.*500-step.*--allow-env-mismatch"):
        data.load("other/cartpole/v0-v0", cartpole)
    _, info = data.load("other/cartpole/v0-v0", cartpole, allow_env_mismatch=True)
    assert "allowed by --allow-env-mismatch" in info.warning
    _external(tmp_path, monkeypatch, "other/acrobot/x-v0", "Acrobot-v1")
    with pytest.raises(JaxilError, match="another task"):
        data.load("other/acrobot/x-v0", envs.make("cartpole"))
    _external(tmp_path, monkeypatch, "other/cartpole/v1-v0", "CartPole-v1")
    assert data.load("other/cartpole/v1-v0", cartpole)[1].warning is None
    _external(tmp_path, monkeypatch, "other/cartpole/unknown-v0", None)
    assert "records no env_spec" in data.load("other/cartpole/unknown-v0", cartpole)[1].warning


def test_data_list_marks_broken_datasets_and_its_json_is_valid(tmp_path, monkeypatch, capsys):
    from jaxil.data.datasets import list_datasets

    broken = tmp_path / "mine" / "cartpole" / "bad-v0" / "data"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text("{not json")
    nodata = tmp_path / "mine" / "cartpole" / "empty-v0" / "data"
    nodata.mkdir(parents=True)
    (nodata / "metadata.json").write_text(json.dumps({"dataset_id": "mine/cartpole/empty-v0"}))
    rows = {r["id"]: r for r in list_datasets([tmp_path])}
    assert rows["mine/cartpole/bad-v0"]["status"].startswith("corrupt metadata.json")
    assert rows["mine/cartpole/empty-v0"]["status"].startswith("unreadable main_data.hdf5")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    code, stdout, _ = run_cli(["data", "list", "--json"], capsys)
    listed = {r["id"]: r for r in json.loads(stdout)}
    assert code == 0 and listed["mine/cartpole/empty-v0"]["mean_return"] is None
    code, stdout, _ = run_cli(["data", "list"], capsys)
    assert "corrupt metadata.json" in stdout


# --------------------------------------------------------------------------------------
# The Python API: shapes and types at every public boundary, checked while tracing.

@pytest.fixture(scope="module")
def bc_state():
    from jaxil import envs
    from jaxil.il import bc

    spec = envs.make("pendulum").spec
    return bc.init(jax.random.PRNGKey(0), bc.Config(hidden=(8,)), spec, jnp.zeros(3), jnp.ones(3))


def _batch(n=4, obs_dim=3, action_shape=(1,)):
    from jaxil.types import Transition

    return Transition(jnp.zeros((n, obs_dim)), jnp.zeros((n,) + action_shape), jnp.zeros(n), jnp.zeros((n, obs_dim)),
                      jnp.zeros(n, bool), jnp.zeros(n, bool))


@pytest.mark.parametrize("bad, message", [
    (dict(action_shape=()), r"batch.action has shape \(4,\).*expected shape \(4, 1\)"),
    (dict(action_shape=(3,)), r"batch.action has shape \(4, 3\).*expected shape \(4, 1\)"),
    (dict(obs_dim=5), r"batch.obs has shape \(4, 5\), expected \(batch, 3\)"),
])
def test_bc_update_refuses_batches_that_do_not_fit_the_env(bad, message, bc_state):
    from jaxil.il import bc

    with pytest.raises(JaxilError, match=message):
        jax.jit(bc.update)(bc_state, _batch(**bad))


def test_unbatched_and_ragged_batches_are_refused(bc_state):
    from jaxil.il import bc

    good = _batch()
    with pytest.raises(JaxilError, match=r"obs has shape \(3,\), expected \(batch, 3\)"):
        bc.update(bc_state, jax.tree.map(lambda x: x[0], good))
    with pytest.raises(JaxilError, match=r"reward has shape \(5,\).*expected shape \(4,\)"):
        bc.update(bc_state, good.replace(reward=jnp.zeros(5)))
    with pytest.raises(JaxilError, match="terminated .*bool"):
        bc.update(bc_state, good.replace(terminated=jnp.zeros(4)))


def test_pair_batches_name_the_part_that_is_wrong():
    from jaxil import envs
    from jaxil.il import recoil_online

    spec = envs.make("pendulum").spec
    state = recoil_online.init(jax.random.PRNGKey(0), recoil_online.Config(hidden=(8,)), spec, jnp.zeros(3), jnp.ones(3))
    with pytest.raises(JaxilError, match=r"replay.action has shape \(4, 2\)"):
        recoil_online.update(state, (_batch(), _batch(action_shape=(2,))))
    with pytest.raises(JaxilError, match=r"batch must be a pair \(expert, replay\)"):
        recoil_online.update(state, _batch())


def test_init_and_make_train_refuse_what_belongs_elsewhere():
    from jaxil import envs
    from jaxil.il import bc, iqlearn

    pendulum = envs.make("pendulum")
    with pytest.raises(JaxilError, match=r"obs_mean has shape \(4,\), expected \(3,\)"):
        bc.init(jax.random.PRNGKey(0), bc.Config(), pendulum.spec, jnp.zeros(4), jnp.ones(4))
    with pytest.raises(JaxilError, match="bc.make_train takes a jaxil.il.bc.Config, got jaxil.il.iqlearn.Config"):
        bc.make_train(iqlearn.Config(), None, pendulum)
    with pytest.raises(JaxilError, match="iqlearn.init takes a jaxil.il.iqlearn.Config"):
        iqlearn.init(jax.random.PRNGKey(0), bc.Config(), pendulum.spec, jnp.zeros(3), jnp.ones(3))
