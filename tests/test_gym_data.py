"""The standard datasets' import paths, on small files written here: a D4RL-format HDF5 file
(with and without next_observations) and a Minari dataset recorded by minari's own
DataCollector on gymnasium's Hopper-v5; v4 data is refused on the v5 env and the reverse."""

import json
import warnings

import gymnasium
import h5py
import minari
import numpy as np
import pytest

from jaxil import JaxilError, cli, data, envs
from jaxil.data.d4rl import D4RL_REFERENCES, read_d4rl

OBS, ACT = 11, 3  # hopper's


def write_d4rl(path, lengths=(4, 6, 3), ends=("terminal", "timeout", None), next_obs=True, obs_dim=OBS, drop=()):
    """Three episodes in D4RL's flat layout; the last one cut off by the end of the file."""
    rng = np.random.default_rng(0)
    n = sum(lengths)
    rows = {"observations": rng.normal(size=(n, obs_dim)), "actions": rng.uniform(-1, 1, (n, ACT)),
            "rewards": rng.normal(size=n), "terminals": np.zeros(n, bool), "timeouts": np.zeros(n, bool)}
    if next_obs:
        rows["next_observations"] = rng.normal(size=(n, obs_dim))
    end = -1
    for length, how in zip(lengths, ends):
        end += length
        if how is not None:
            rows["terminals" if how == "terminal" else "timeouts"][end] = True
    with h5py.File(path, "w") as f:
        for k, v in rows.items():
            if k not in drop:
                f[k] = v
    return rows


def test_d4rl_rows_become_episodes_with_terminals_and_timeouts_apart(tmp_path):
    rows = write_d4rl(tmp_path / "a.hdf5")
    episodes, how = read_d4rl(tmp_path / "a.hdf5")
    assert [len(e) for e in episodes] == [4, 6, 3] and how["terminal_episodes"] == 1
    assert [(bool(e.terminations[-1]), bool(e.truncations[-1])) for e in episodes] == [(True, False), (False, True),
                                                                                      (False, True)]
    np.testing.assert_allclose(episodes[1].observations[:-1], rows["observations"][4:10], rtol=1e-6)
    np.testing.assert_allclose(episodes[1].observations[-1], rows["next_observations"][9], rtol=1e-6)
    # without next_observations: the timeout's row loses its unknown successor, the terminal keeps its row
    write_d4rl(tmp_path / "b.hdf5", next_obs=False)
    episodes, how = read_d4rl(tmp_path / "b.hdf5")
    assert [len(e) for e in episodes] == [4, 5, 2] and how["dropped_time_limit_rows"] == 2
    assert episodes[1].truncations[-1] and not episodes[1].terminations.any()


def test_import_d4rl_writes_a_dataset_for_its_env_with_d4rls_references(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    write_d4rl(tmp_path / "hopper_medium-v2.hdf5")
    assert cli.main(["data", "import-d4rl", str(tmp_path / "hopper_medium-v2.hdf5"), "--env", "gym-hopper-v4"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dataset"] == "d4rl/hopper_medium-v2" and out["episodes"] == 3
    episodes, info = data.load("d4rl/hopper_medium-v2", envs.make("gym-hopper-v4"))
    assert (info.random_return, info.expert_return) == D4RL_REFERENCES["hopper"] and len(episodes) == 3
    with pytest.raises(JaxilError, match="recorded on env 'gym-hopper-v4', not 'gym-hopper-v5'"):
        data.load("d4rl/hopper_medium-v2", envs.make("gym-hopper-v5"))


@pytest.mark.parametrize("kw, message", [
    (dict(drop=("timeouts",)), "lacks the D4RL keys timeouts"),
    (dict(obs_dim=10), "obs dim"),
])
def test_import_d4rl_refuses_bad_files(tmp_path, monkeypatch, capsys, kw, message):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    write_d4rl(tmp_path / "x.hdf5", **kw)
    assert cli.main(["data", "import-d4rl", str(tmp_path / "x.hdf5"), "--env", "gym-hopper-v4"]) == 1
    assert message in capsys.readouterr().err


def test_a_minari_dataset_recorded_on_gymnasiums_hopper_loads_with_its_references(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    env = minari.DataCollector(gymnasium.make("Hopper-v5"))
    env.reset(seed=0)
    for _ in range(3):  # three short random episodes
        while True:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
                break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.create_dataset("mujoco/hopper/tiny-v0", ref_min_score=-20.0, ref_max_score=3000.0, algorithm_name="random")
    episodes, info = data.load("mujoco/hopper/tiny-v0", envs.make("gym-hopper-v5"))
    assert info.made_by == "external" and len(episodes) == 3
    assert (info.random_return, info.expert_return) == (-20.0, 3000.0) and "reference scores" in info.evaluation
    with pytest.raises(JaxilError, match="another version of the task"):
        data.load("mujoco/hopper/tiny-v0", envs.make("gym-hopper-v4"))
