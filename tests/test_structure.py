"""The package's shape: imports point down the layers, and every algorithm module keeps
the contract (``Config``, ``init``, ``update``, ``make_train``, ``policy``, and
``learned_reward`` for reward learners) with the loop's state, the learner and the
update agreeing on structure."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from jaxil import cli, data, envs
from jaxil.evaluation import Reference
from jaxil.rl import onpolicy
from jaxil.types import Transition

PACKAGE = Path(__file__).resolve().parents[1] / "jaxil"
# Lower layers never import higher ones (a module may import its own layer).
LAYERS = {
    0: ("jaxil", "jaxil.errors", "jaxil.types", "jaxil.configs", "jaxil.loop", "jaxil.losses", "jaxil.evaluation", "jaxil.stats",
        "jaxil.provenance", "jaxil.data", "jaxil.envs", "jaxil.nets"),
    1: ("jaxil.rl",),
    2: ("jaxil.il",),
    3: ("jaxil.cli", "jaxil.driver", "jaxil.experts", "jaxil.models", "jaxil.plots", "jaxil.presets", "jaxil.sweep", "jaxil.hosts",
        "jaxil.compare", "jaxil.tensorboard"),
}
HELPERS = {"offline", "offpolicy", "onpolicy", "adversarial", "awr", "solvers", "model_rollouts", "model_based",
           "tabular", "feedback", "actor_critic", "__init__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    """The layer of module ``name``: its longest listed prefix decides."""
    best = None
    for level, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (level, prefix)
    assert best is not None, f"module {name} is in no layer; add it to LAYERS in {__file__}"
    return best[0]


def jaxil_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every jaxil import in a file, function-level imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "jaxil"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jaxil":
            for a in node.names:  # `from jaxil import driver` imports the module jaxil.driver
                sub = f"{node.module}.{a.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / sub.replace(".", "/")).is_dir()
                found.append((node.lineno, sub if is_module else node.module))
    return found


def test_no_import_runs_up_the_layers():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30
    upward = []
    for path in files:
        importer = module_name(path)
        for line, imported in jaxil_imports(path):
            if layer(imported) > layer(importer):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({importer}, layer {layer(importer)}) "
                              f"imports {imported} (layer {layer(imported)})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The check above would see a violation (guards against a parser that finds nothing)."""
    bad = PACKAGE / "data" / "datasets.py"
    imports = jaxil_imports(bad)
    assert ("jaxil.errors" in {m for _, m in imports}) and layer("jaxil.data.datasets") == 0
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from jaxil import driver\n    from jaxil.rl.sac import update\n")
    assert [m for _, m in jaxil_imports(probe)] == ["jaxil.driver", "jaxil.rl.sac"]
    assert layer("jaxil.driver") > layer("jaxil.data.datasets") and layer("jaxil.rl.sac") == 1


ALGORITHM_FILES = sorted(p.stem for d in ("il", "rl") for p in (PACKAGE / d).glob("*.py") if p.stem not in HELPERS)


def test_every_algorithm_module_is_registered():
    registered = {info.module.rsplit(".", 1)[1] for info in cli.ALGOS.values()}
    assert set(ALGORITHM_FILES) == registered


PENDULUM, CARTPOLE = envs.make("pendulum"), envs.make("cartpole")
TINY_OFFLINE = dict(hidden=(4,), steps=2, eval_every=1, eval_episodes=1)
TINY_ONLINE = dict(hidden=(4,), steps=2, eval_every=1, eval_episodes=1, warmup_steps=4, buffer_size=8)
TINY_PPO = dict(hidden=(4,), num_envs=2, rollout_steps=2, num_minibatches=1, num_epochs=1, steps=8, eval_every=4,
                eval_episodes=1)
CONFIGS = {
    "bc": dict(TINY_OFFLINE, batch_size=4),
    "iqlearn": dict(TINY_OFFLINE, batch_size=4),
    "ibc": dict(TINY_OFFLINE, batch_size=4),
    "recoil": dict(TINY_OFFLINE, expert_batch=4, offline_batch=4),
    "gail": dict(TINY_ONLINE, disc_hidden=(4,), batch_size=4, expert_batch=4),
    "airl": dict(TINY_ONLINE, disc_hidden=(4,), batch_size=4, expert_batch=4),
    "sqil": dict(TINY_ONLINE, batch_size=4),
    "density": dict(TINY_ONLINE, batch_size=4),
    "preference": dict(TINY_ONLINE, batch_size=4, comparisons=2, rounds=1, fragment_length=2, recent_steps=8,
                       reward_hidden=(4,), members=2, reward_batch=2, reward_updates=1, initial_multiplier=1,
                       dataset_size=8),
    "dagger": dict(hidden=(4,), num_envs=1, round_steps=2, updates_per_round=1, steps=4, eval_every=2, eval_episodes=1,
                   batch_size=4, buffer_size=8),
    "recoil_online": dict(TINY_ONLINE, expert_batch=4, replay_batch=4),
    "sac": dict(TINY_ONLINE, batch_size=4),
    "dqn": dict(TINY_ONLINE, batch_size=4),
    "ppo": TINY_PPO,
    "a2c": dict(hidden=(4,), num_envs=2, rollout_steps=2, steps=8, eval_every=4, eval_episodes=1),
    "gcl": dict(TINY_PPO, disc_hidden=(4,), expert_batch=4, disc_updates=1),
    "appl": dict(hidden=(4,), num_envs=2, rollout_steps=2, solver_steps=8, feature_episodes=1, steps=1,
                 eval_every=1, eval_episodes=1),
    "dynamics": dict(members=2, elites=1, hidden=(4,), batch_size=4, steps=2, eval_every=1),
    "mopo": dict(hidden=(4,), batch_size=4, real_batch=2, rollout_batch=2, horizon=2, rollout_every=1,
                 model_buffer_size=8, steps=2, eval_every=1, eval_episodes=1),
    "rambo": dict(hidden=(4,), batch_size=4, real_batch=2, rollout_batch=2, horizon=2, rollout_every=1,
                  model_buffer_size=8, steps=2, eval_every=1, eval_episodes=1, model_update_every=1, model_steps=1,
                  adv_batch=2, sl_batch=2),
    "omlirl": dict(hidden=(4,), reward_hidden=(4,), batch_size=4, real_batch=2, rollout_batch=2, horizon=2,
                   rollout_every=2, reward_every=1, reward_batch=2, model_buffer_size=8, steps=2, eval_every=2,
                   eval_episodes=1),
    "rmirl": dict(hidden=(4,), reward_hidden=(4,), batch_size=4, real_batch=2, rollout_batch=2, horizon=2,
                  rollout_every=2, reward_every=1, reward_batch=2, model_buffer_size=8, steps=2, eval_every=2,
                  eval_episodes=1, model_update_every=2, model_steps=1, adv_batch=2, sl_batch=2),
    "rmirl_implicit": dict(hidden=(4,), batch_size=4, real_batch=2, rollout_batch=2, horizon=2, rollout_every=2,
                           model_buffer_size=8, steps=2, eval_every=2, eval_episodes=1, model_update_every=2,
                           model_steps=1, adv_batch=2, sl_batch=2, adv_horizon=2),
    "mce_irl": dict(reward_hidden=(4,), steps=2, eval_every=1),
    "mbpo": dict(TINY_ONLINE, batch_size=4, real_batch=2, model_every=1, warmup_steps=6, model_members=2,
                 model_elites=1, model_hidden=(4,), model_batch=2, model_epochs=1, rollout_batch=2, max_horizon=2,
                 model_buffer_size=8),
}


@pytest.fixture(scope="module")
def expert():
    eps, info = data.load(data.default_dataset_id("pendulum"), PENDULUM)
    return data.expert_data(eps[:2]), Reference(info.random_return, info.expert_return)


def rows(env, n: int, key: int = 0) -> Transition:
    k = jax.random.split(jax.random.PRNGKey(key), 3)
    spec = env.spec
    action = (jax.random.randint(k[1], (n,), 0, spec.num_actions) if spec.discrete
              else jax.random.uniform(k[1], (n, spec.action_dim), minval=-1, maxval=1))
    obs = jax.random.normal(k[0], (n, spec.obs_dim))
    return Transition(obs, action, jnp.zeros(n), jax.random.normal(k[2], (n, spec.obs_dim)),
                      jnp.zeros(n, bool), jnp.zeros(n, bool))


def contract_case(name: str, expert_data):
    """(module, config, env, make_train args, init extra args, a batch for update)."""
    mod = importlib.import_module(next(i.module for i in cli.ALGOS.values() if i.module.endswith("." + name)))
    env = CARTPOLE if name == "dqn" else PENDULUM
    config = mod.Config(**CONFIGS[name])
    expert, ref = expert_data
    stats = (expert.obs_mean, expert.obs_std)
    t = rows(env, 4)
    if name in ("ppo", "a2c", "gcl"):
        batch = onpolicy.Rollout(jax.tree.map(lambda x: x.reshape((2, 2) + x.shape[1:]), t), jnp.zeros((2, 2)))
        if name == "gcl":  # a cost against demonstrations, the policy on the rollout
            return mod, config, env, (expert, env, ref), (), (t, batch)
        return mod, config, env, (env, ref), (), batch
    if name == "appl":  # the projection step: a policy's acting parameters and feature expectations
        from jaxil.rl import a2c

        params = a2c.acting_params(a2c.init(jax.random.PRNGKey(1), config.solver_config(False), env.spec))
        mu_expert = jnp.ones(env.spec.obs_dim)
        return mod, config, env, (expert, env, ref), (mu_expert,), (params, jnp.zeros(env.spec.obs_dim))
    if name in ("sac", "dqn", "mbpo", "preference"):
        return mod, config, env, (env, ref), (), t
    if name == "dynamics":  # fits rows; each member reads its own (members, B) rows
        fit = rows(env, 40, key=1)
        batch = jax.tree.map(lambda x: x.reshape((2, 2) + x.shape[1:]), t)
        return mod, config, env, (fit, env.spec), (mod.fit_scaler(fit.obs, fit.action),), batch
    if name in ("omlirl", "rmirl", "rmirl_implicit"):  # model-based IRL: expert data, sub-optimal rows, a model
        from jaxil.rl import dynamics

        model_cfg = dynamics.Config(**CONFIGS["dynamics"])
        model = dynamics.model(dynamics.init(jax.random.PRNGKey(1), model_cfg, env.spec, dynamics.fit_scaler(t.obs, t.action)))
        batch = (t, t, t)
        return mod, config, env, (expert, rows(env, 40, key=1), model, env, ref), (model,) if name != "omlirl" else (), batch
    if name == "dagger":  # an expert policy labels the visited states
        expert_policy = lambda obs: jnp.zeros((obs.shape[0], 1))  # noqa: E731
        return mod, config, env, (expert_policy, env, ref), (expert.obs_mean, expert.obs_std), t
    if name == "mce_irl":  # tabular IRL: a known MDP; the "batch" is the demonstrations' occupancy
        from jaxil.envs.tabular import TabularEnv, cliffworld
        from jaxil.rl import tabular

        mdp = cliffworld()
        tab = TabularEnv(mdp, "cliffworld")
        demo = tabular.occupancy_measures(mdp)[1]
        return mod, config, tab, (mdp, demo, ref), (mdp,), demo
    if name in ("mopo", "rambo"):  # offline RL in a fitted model: the data's rows and the model
        from jaxil.rl import dynamics

        model_cfg = dynamics.Config(**CONFIGS["dynamics"])
        model = dynamics.model(dynamics.init(jax.random.PRNGKey(1), model_cfg, env.spec, dynamics.fit_scaler(t.obs, t.action)))
        return mod, config, env, (rows(env, 40, key=1), model, env, ref), (model,) if name == "rambo" else (), t
    batch = {"recoil": (t, t), "recoil_online": (t, t), "sqil": (t, t), "gail": (t, t, t), "airl": (t, t, t)}.get(name, t)
    args = (expert, t, env, ref) if name == "recoil" else (expert, env, ref)
    extra = stats if name in ("bc", "iqlearn", "ibc", "recoil", "recoil_online") else (
        (expert.train,) if name == "density" else ())
    return mod, config, env, args, extra, batch


@pytest.mark.parametrize("name", ALGORITHM_FILES)
def test_every_algorithm_keeps_the_contract(name, expert):
    mod, config, env, train_args, init_extra, batch = contract_case(name, expert)
    assert dataclasses.is_dataclass(mod.Config)
    info = next(i for i in cli.ALGOS.values() if i.module == mod.__name__)
    # a model learner has no policy: model(state) is what it gives (rollouts take it)
    for fn in ("init", "update", "make_train", "model" if info.kind == "model" else "policy"):
        assert callable(getattr(mod, fn, None)), f"{mod.__name__} has no {fn}"
    assert list(inspect.signature(mod.init).parameters)[:3] == ["key", "config", "spec"]
    assert hasattr(mod, "learned_reward") == (info.reward is not None)

    key = jax.random.PRNGKey(0)
    state = mod.init(key, config, env.spec, *init_extra)
    train = mod.make_train(config, *train_args)
    # the learner inside train's state is what init makes and what update keeps
    learner = train.learner(jax.eval_shape(train.init, key))
    assert jax.tree.structure(learner) == jax.tree.structure(state)
    new_state, metrics = jax.eval_shape(mod.update, state, batch)
    assert jax.tree.structure(new_state) == jax.tree.structure(state) and metrics
    if info.kind == "model":
        m = mod.model(state)
        next_obs, _ = mod.step(m, key, jnp.zeros((3, env.spec.obs_dim)), jnp.zeros((3, env.spec.action_dim)))
        assert next_obs.shape == (3, env.spec.obs_dim)
        return
    obs = jnp.zeros((3, env.spec.obs_dim))
    dist = mod.policy(state, obs)
    assert dist.mode().shape == (3,) + env.spec.action_shape
    assert dist.log_prob(dist.mode()).shape == (3,)
    if info.reward is not None:
        t = rows(env, 3)
        assert mod.learned_reward(state)(t.obs, t.action, t.next_obs, t.terminated).shape == (3,)
