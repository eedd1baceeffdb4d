"""Minari round trips, shipped datasets, external datasets, and bad input."""

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import jax
import minari
import numpy as np
import pytest

import jaxil
from jaxil import JaxilError, data, envs
from jaxil.data.datasets import SHIPPED_ROOT
from jaxil.data.datasets import list_datasets
from jaxil.experts import RECIPES, load_policy
from jaxil.data.minari_io import Episode
from jaxil.evaluation import episode_returns

SHIPPED = ["pendulum", "cartpole", "mountaincar", "mountaincar-continuous", "acrobot"]


def random_episodes(spec, n=3, seed=0):
    rng = np.random.default_rng(seed)
    eps = []
    for i in range(n):
        t = 5 + i
        act = rng.integers(0, spec.num_actions, t) if spec.discrete else rng.uniform(-1, 1, (t, spec.action_dim)).astype(np.float32)
        term = np.zeros(t, bool)
        trunc = np.zeros(t, bool)
        (term if i % 2 else trunc)[-1] = True
        eps.append(Episode(rng.normal(size=(t + 1, spec.obs_dim)).astype(np.float32), act, rng.normal(size=t).astype(np.float32), term, trunc))
    return eps


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def write(store, name, eps, spec, **kw):
    return data.write_dataset(store, f"jaxil/{spec.name}/{name}-v0", eps, spec, random_return=kw.get("lo", -10.0),
                              expert_return=kw.get("hi", 10.0), jaxil_meta={"env": spec.name, "backend": spec.backend})


@pytest.mark.parametrize("name", ["pendulum", "cartpole", "hopper"])
def test_roundtrip_is_bit_exact_through_minari(store, name, monkeypatch):
    spec = envs.make(name).spec
    eps = random_episodes(spec)
    path = write(store, "rt", eps, spec)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    ds = minari.load_dataset(f"jaxil/{name}/rt-v0")
    assert ds.total_episodes == 3 and ds.storage.metadata["ref_max_score"] == 10.0
    for ep, m in zip(eps, ds.iterate_episodes()):
        np.testing.assert_array_equal(m.observations, ep.observations)
        np.testing.assert_array_equal(m.terminations, ep.terminations)
        np.testing.assert_array_equal(m.truncations, ep.truncations)
    loaded, info = data.load(str(path))
    assert info.made_by == "jaxil" and info.env == name
    for a, b in zip(eps, loaded):
        for f in ("observations", "actions", "rewards", "terminations", "truncations"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    t = data.to_transitions(loaded)
    # next_obs at every episode end is the recorded final observation, never a reset
    ends = np.cumsum([len(e) for e in eps]) - 1
    np.testing.assert_array_equal(t.next_obs[ends], np.stack([e.observations[-1] for e in eps]))
    np.testing.assert_array_equal(t.terminated[ends], [e.terminations[-1] for e in eps])


def test_external_minari_dataset_needs_env_and_gets_references(store, monkeypatch):
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    spec = envs.make("pendulum").spec
    eps = random_episodes(spec, n=4)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    bufs = [EpisodeBuffer(observations=e.observations, actions=e.actions.astype(np.float32), rewards=e.rewards + 5.0,
                          terminations=e.terminations, truncations=e.truncations) for e in eps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            "other/pendulum/expert-v0", bufs, observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
            action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
    with pytest.raises(JaxilError, match="pass --env"):
        data.load("other/pendulum/expert-v0")
    loaded, info = data.load("other/pendulum/expert-v0", envs.make("pendulum"))
    assert info.made_by == "external"
    assert info.expert_return == pytest.approx(np.mean([e.ret for e in loaded]))
    assert info.random_return < -900  # a random pendulum policy, measured on the env
    assert "evaluated on jaxil env 'pendulum'" in info.evaluation and "gymnax" in info.evaluation
    # a public dataset with no local copy: an immediate error, no download attempt
    with pytest.raises(JaxilError, match="never downloads"):
        data.load("mujoco/hopper/expert-v0", envs.make("pendulum"))
    with pytest.raises(JaxilError, match="obs dim 4"):
        data.load("other/pendulum/expert-v0", envs.make("cartpole"))


def test_bad_datasets_give_clear_errors(store):
    spec = envs.make("pendulum").spec
    with pytest.raises(JaxilError, match="unknown dataset 'nope/pendulum/expert-v0'.*jaxil data make"):
        data.load("nope/pendulum/expert-v0")
    eps = random_episodes(spec)
    eps[1].rewards[2] = np.nan
    with pytest.raises(JaxilError, match="episode 1: rewards contain NaN or inf"):
        data.load(str(write(store, "nan", eps, spec)))
    with pytest.raises(JaxilError, match="recorded on env 'pendulum', not 'cartpole'"):
        data.load(str(write(store, "ok", random_episodes(spec), spec)), envs.make("cartpole"))
    with pytest.raises(JaxilError, match="no episodes"):
        write(store, "empty", [], spec)
    good = data.load(str(store / "jaxil/pendulum/ok-v0"))[0]
    with pytest.raises(JaxilError, match="has 3 episodes, fewer than the 10 requested"):
        data.first_episodes(good, 10, "x")
    corrupt = shutil.copytree(store / "jaxil/pendulum/ok-v0", store / "jaxil/pendulum/corrupt-v0")
    hdf5 = corrupt / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:300])
    with pytest.raises(JaxilError, match="corrupt or incomplete"):
        data.load(str(corrupt))
    with pytest.raises(JaxilError, match="not a Minari dataset"):
        data.load(str(store))
    wide = random_episodes(spec)
    wide[2].actions[1] = [5.0]
    with pytest.raises(JaxilError, match="episode 2: actions outside the env's bounds"):
        data.load(str(write(store, "wide", wide, spec)))
    one_step = Episode(np.zeros((2, 3), np.float32), np.zeros((1, 1), np.float32), np.zeros(1, np.float32),
                       np.ones(1, bool), np.zeros(1, bool))
    with pytest.raises(JaxilError, match="need at least 2"):
        data.expert_data([one_step])


def test_backend_and_metadata_checks(store):
    hopper = envs.make("hopper")
    eps = random_episodes(hopper.spec)
    path = write(store, "h", eps, hopper.spec)
    assert data.load(str(path), hopper)[1].backend == "mjx"
    with pytest.raises(JaxilError, match="backend 'mjx'.*pass --backend mjx"):
        data.load(str(path), envs.make("hopper", "generalized"))
    meta_file = path / "data" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    del meta["jaxil"]["backend"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(JaxilError, match="without backend"):
        data.load(str(path))


def test_expert_data_split_and_stats():
    eps, info = data.load("jaxil/pendulum/expert-v0")
    first = data.first_episodes(eps, 10, info.dataset_id)
    d = data.expert_data(first)
    assert d.train.size + d.heldout.size == 2000 and d.heldout.size == 200
    rows = lambda t: sorted(map(tuple, np.hstack([np.asarray(t.obs), np.asarray(t.action), np.asarray(t.next_obs)])))  # noqa: E731
    assert sorted(rows(d.train) + rows(d.heldout)) == rows(data.to_transitions(first))  # a partition of rows
    np.testing.assert_allclose(d.obs_mean, np.asarray(d.train.obs).mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_datasets_are_expert_and_documented(name):
    eps, info = data.load(data.default_dataset_id(name))
    assert info.num_episodes >= 50
    assert info.expert_return > info.random_return
    assert info.jaxil["command"].startswith("jaxil data make --env " + name)
    assert info.jaxil["expert_algo"] == RECIPES[name].algo
    assert all(e.terminations[-1] or e.truncations[-1] for e in eps)


@pytest.mark.parametrize("name, episodes", [("pendulum", 50), ("cartpole", 50), ("hopper", 10), ("walker2d", 10)])
def test_saved_expert_policy_reproduces_reference_return(name, episodes):
    """The expert reference (the dataset's mean return) is what the saved policy earns on
    fresh episodes, within the sampling error of both means."""
    eps, info = data.load(data.default_dataset_id(name))
    env = envs.make(name, info.backend)
    act, card = load_policy(info.path)
    rets, _ = jax.jit(lambda k: episode_returns(env, act, k, episodes))(jax.random.PRNGKey(7))
    stderr = np.std([e.ret for e in eps]) * np.sqrt(1 / episodes + 1 / len(eps))
    assert abs(float(rets.mean()) - info.expert_return) <= 4 * stderr + 1e-3 * abs(info.expert_return) + 5.0


def test_data_list_rows():
    rows = {r["id"]: r for r in list_datasets()}
    for name in SHIPPED:
        r = rows[data.default_dataset_id(name)]
        assert r["env"] == name and r["episodes"] >= 50 and r["ref_expert"] > r["ref_random"]
        assert r["mean_return"] == pytest.approx(r["ref_expert"], rel=1e-4)


WITH_KINDS = sorted(p.parent.name for p in SHIPPED_ROOT.glob("jaxil/*/medium-replay-v0"))


@pytest.mark.parametrize("name", WITH_KINDS)
def test_shipped_data_kinds_are_what_they_claim(name):
    """expert ≥ 50 full episodes; medium about a third of the way from random to
    expert; medium-replay is the buffer up to that policy; random scores about 0."""
    score = lambda info: 100 * (info.mean_return - info.random_return) / (info.expert_return - info.random_return)  # noqa: E731
    eps, expert = data.load(f"jaxil/{name}/expert-v0")
    assert expert.num_episodes >= 50
    assert all(e.terminations[-1] or e.truncations[-1] for e in eps)
    assert RECIPES[name].target_return is not None or name not in envs.BRAX_ENVS
    _, medium = data.load(f"jaxil/{name}/medium-v0")
    _, replay = data.load(f"jaxil/{name}/medium-replay-v0")
    rand_eps, rand = data.load(f"jaxil/{name}/random-v0")
    for info in (medium, replay, rand):
        assert (info.random_return, info.expert_return) == (expert.random_return, expert.expert_return)
        assert info.backend == expert.backend  # one training run, one physics
        assert info.jaxil["command"].startswith(f"jaxil data make --env {name} --kind {info.jaxil['kind']}")
    assert medium.jaxil["medium_chunk"] == replay.jaxil["medium_chunk"]
    assert medium.jaxil["medium_eval_return"] >= medium.jaxil["medium_level"]
    assert 10 < score(medium) < 70
    assert score(replay) < score(medium) + 20  # mostly worse than the policy it ends with
    # random data scores 0 up to its sampling error (pendulum's random returns spread widely)
    stderr = 100 * np.std([e.ret for e in rand_eps]) / np.sqrt(len(rand_eps)) / (expert.expert_return - expert.random_return)
    assert abs(score(rand)) < 4 * stderr + 2


def test_on_policy_medium_replay_resamples_the_runs_policies(tmp_path):
    """A PPO run keeps no replay buffer, so medium-replay samples an equal share of
    episodes from each policy the run kept up to the medium one, oldest first: its first
    share comes from the barely trained policy and scores below its last (the medium)."""
    from jaxil.experts import make_dataset

    kw = dict(root=tmp_path / "store", work_dir=tmp_path / "run", progress=False,
              overrides=dict(steps=49_152, eval_every=4_096))
    make_dataset("cartpole", "expert", **kw)
    path = make_dataset("cartpole", "medium-replay", num_episodes=40, **kw)
    eps, info = data.load(str(path))
    m = info.jaxil["medium_chunk"]
    assert m >= 2, "the test needs a medium policy after the first evaluation"
    assert len(eps) == 40 and all(e.terminations[-1] or e.truncations[-1] for e in eps)
    assert f"evaluations 1 to {m}" in info.jaxil["collection"]
    share = 40 // m  # episodes [0, share) come from evaluation 1, the last share from m
    first, last = np.mean([e.ret for e in eps[:share]]), np.mean([e.ret for e in eps[-share:]])
    assert first < last and last > info.random_return
    assert info.jaxil["medium_level"] <= info.jaxil["medium_eval_return"]
    # the card names the code that wrote it (in a git checkout, as in the tests)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(jaxil.__file__).parent, capture_output=True, text=True)
    if head.returncode == 0:
        assert head.stdout.startswith(info.jaxil["jaxil_commit"].removesuffix("-dirty"))
    # medium-v0 of a PPO run acts by the medium policy's mode (its samples are far wider)
    path = make_dataset("cartpole", "medium", num_episodes=4, **kw)
    eps, info = data.load(str(path))
    act, _ = load_policy(path)
    for e in eps:
        np.testing.assert_array_equal(np.asarray(jax.vmap(act)(e.observations[:-1], None)), e.actions)
    # made alone (no expert run in its work dir), the medium kind trains only up to the
    # medium level, and its data are the same
    path = make_dataset("cartpole", "medium", num_episodes=4, **kw | dict(work_dir=tmp_path / "alone", overwrite=True))
    alone, info_alone = data.load(str(path))
    assert info_alone.jaxil["medium_chunk"] == m and len(info_alone.jaxil["expert_train_curve"]) == m
    assert len(info.jaxil["expert_train_curve"]) > m
    for a, b in zip(eps, alone, strict=True):
        np.testing.assert_array_equal(a.observations, b.observations)
        np.testing.assert_array_equal(a.actions, b.actions)
