"""The off-policy online loop, shared by SAC, DQN and the off-policy imitation learners
(GAIL, AIRL, SQIL, RECOIL-online): environments, a replay buffer and the learner in one
``lax.scan``.

After ``warmup_steps`` env steps of a warm-up policy (uniformly random actions unless
told otherwise), each iteration calls ``learn(learner, buffer, key)``
``updates_per_step`` times, then steps every env once with the behaviour policy (the
learner's own samples unless told otherwise; e.g. DAgger mixes in an expert) and stores
the transitions. The learner is any pytree; the loop never looks inside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data import replay
from jaxil.envs.core import Env, random_action
from jaxil.envs.rollout import step_envs
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference, evaluate_policy
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train, chunking
from jaxil.types import RewardFn, Transition, example_transition, relabel


@struct.dataclass
class LoopConfig(configs.Config):
    """The loop's sizes, inherited by every off-policy solver's Config (which may change
    the defaults). The solver's ``__post_init__`` calls :func:`check_config` with its batch."""

    buffer_size: int = static(1_000_000)
    """replay capacity (FIFO)."""
    num_envs: int = static(1)
    """parallel environments stepped per iteration."""
    warmup_steps: int = static(2_000)
    """env steps of uniformly random actions before learning (per run, all envs)."""
    updates_per_step: int = static(1)
    """learner updates per iteration (per num_envs env steps)."""
    steps: int = static(1_000_000)
    """total environment steps after warm-up."""
    eval_every: int = static(10_000)
    """environment steps between evaluations."""
    eval_episodes: int = static(10)
    """evaluation episodes per evaluation, run in parallel."""

    def loop_fields(self) -> dict[str, int]:
        """These fields by name, to build an inner solver's Config with the same loop."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(LoopConfig)}


Learner = Any
Learn = Callable[[Learner, replay.ReplayBuffer, jax.Array], tuple[Learner, dict]]  # (learner, buffer, key)


@struct.dataclass
class TrainState:
    agent: Learner
    buffer: replay.ReplayBuffer
    env_state: chex.ArrayTree
    obs: jax.Array  # (num_envs, obs_dim)
    episode_return: jax.Array  # (num_envs,)
    last_return: jax.Array
    iteration: jax.Array  # iterations after warm-up (num_envs env steps each)
    key: jax.Array


Behaviour = Callable[[Learner, jax.Array, jax.Array], jax.Array]
"""``(learner, obs (num_envs, obs_dim), key) -> actions (num_envs, ...)``: who acts."""


def random_behaviour(spec) -> Behaviour:
    """Uniformly random actions (the default warm-up)."""

    def act(learner: Learner, obs: jax.Array, key: jax.Array) -> jax.Array:
        return jax.vmap(lambda k: random_action(k, spec))(jax.random.split(key, obs.shape[0]))

    return act


def policy_behaviour(policy_fn: Callable[[Learner, jax.Array], Any]) -> Behaviour:
    """Samples of the learner's own policy (the default after warm-up)."""
    return lambda learner, obs, key: policy_fn(learner, obs).sample(seed=key)


def env_step(env: Env, ts: TrainState, act: Behaviour) -> TrainState:
    """Step every env once with ``act``; store the transitions; track episode returns."""
    key, act_key, env_key = jax.random.split(ts.key, 3)
    ts, t = step_envs(env, ts, act(ts.agent, ts.obs, act_key), env_key)
    return ts.replace(buffer=replay.add(ts.buffer, t), key=key)


def initial_state(config: LoopConfig, env: Env, init_learner: Callable[[jax.Array], Learner],
                  warmup: Behaviour) -> Callable[[jax.Array], TrainState]:
    """``init(key)``: the learner, reset envs, an empty buffer filled by
    ``config.warmup_steps`` env steps of ``warmup``."""
    n = config.num_envs

    def init_fn(key: jax.Array) -> TrainState:
        k_agent, k_env, k_run = jax.random.split(key, 3)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(k_env, n))
        ts = TrainState(
            init_learner(k_agent), replay.init(config.buffer_size, example_transition(env.spec)), env_state, obs,
            jnp.zeros(n), jnp.zeros(()), jnp.zeros((), jnp.int32), k_run,
        )
        ts, _ = jax.lax.scan(lambda s, _: (env_step(env, s, warmup), None), ts, None, config.warmup_steps // n)
        return ts

    return init_fn


def evaluator(config: LoopConfig, env: Env, policy_fn: Callable[[Learner, jax.Array], Any],
              reference: Reference | None = None, heldout: Transition | None = None) -> Callable:
    """``evaluate(ts, key)``: ``config.eval_episodes`` episodes of ``policy_fn``'s mode, the
    env steps taken after warm-up, and with ``heldout`` expert transitions their
    log-likelihood and action error."""

    def evaluate(ts: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        m = evaluate_policy(env, lambda o: policy_fn(ts.agent, o), key, config.eval_episodes, reference, heldout)
        return m | {"env_steps": (ts.iteration * config.num_envs).astype(jnp.float32)}

    return evaluate


def iteration(env: Env, ts: TrainState, learn: Learn, updates: int, behaviour: Behaviour) -> tuple[TrainState, dict]:
    """One iteration: ``updates`` calls of ``learn``, then every env stepped once with
    ``behaviour``; the learn metrics averaged, plus the last finished episode's return."""
    # Learn first, then act with the updated policy: see jaxil.data.replay for why this
    # order keeps the buffer write in place.
    def learn_once(carry, _):
        agent, key = carry
        key, k = jax.random.split(key)
        agent, metrics = learn(agent, ts.buffer, k)
        return (agent, key), metrics

    (agent, key), metrics = jax.lax.scan(learn_once, (ts.agent, ts.key), None, updates)
    ts = env_step(env, ts.replace(agent=agent, key=key, iteration=ts.iteration + 1), behaviour)
    return ts, jax.tree.map(jnp.mean, metrics) | {"train_return": ts.last_return}


def make_train(
    config: LoopConfig,
    env: Env,
    *,
    init_learner: Callable[[jax.Array], Learner],
    learn: Learn,
    policy_fn: Callable[[Learner, jax.Array], Any],
    reference: Reference | None = None,
    heldout: Transition | None = None,
    warmup: Behaviour | None = None,
    behaviour: Behaviour | None = None,
) -> Train:
    """The off-policy loop: ``config.warmup_steps`` steps of ``warmup`` (default uniformly
    random), then per iteration ``config.updates_per_step`` calls of ``learn`` and one step
    of every env with ``behaviour`` (default: samples of ``policy_fn(learner, obs)``).
    Evaluations act with ``policy_fn``'s mode, and with ``heldout`` expert transitions
    add their log-likelihood and action error. ``config`` supplies the loop's sizes only."""
    spec = env.spec
    n = config.num_envs
    warmup = random_behaviour(spec) if warmup is None else warmup
    behaviour = policy_behaviour(policy_fn) if behaviour is None else behaviour

    init_fn = initial_state(config, env, init_learner, warmup)

    def step(ts: TrainState):
        return iteration(env, ts, learn, config.updates_per_step, behaviour)

    evaluate = evaluator(config, env, policy_fn, reference, heldout)
    num_chunks, steps_per_chunk = chunking(config.steps // n, config.eval_every // n)
    return Train(init=init_fn, step=step, evaluate=evaluate, num_chunks=num_chunks, steps_per_chunk=steps_per_chunk,
                 learner=lambda ts: ts.agent)


def solver_train(
    config: LoopConfig,
    env: Env,
    *,
    init: Callable[..., Learner],
    update: Callable[[Learner, Transition], tuple[Learner, dict]],
    policy: Callable[[Learner, jax.Array], Any],
    reference: Reference | None = None,
    reward_fn: RewardFn | None = None,
) -> Train:
    """An RL solver's loop (SAC's, DQN's): ``update(learner, batch)`` on uniform replay
    batches of ``config.batch_size`` rows, relabeled by ``reward_fn`` if given (the env and
    the reported returns keep the true reward); the learner is ``init(key, config, spec)``."""

    def learn(agent: Learner, buffer: replay.ReplayBuffer, key: jax.Array):
        batch = replay.sample(key, buffer, config.batch_size)
        return update(agent, batch if reward_fn is None else relabel(batch, reward_fn))

    return make_train(config, env, init_learner=lambda key: init(key, config, env.spec), learn=learn,
                      policy_fn=policy, reference=reference)


def check_config(config: LoopConfig, batch_size: int) -> None:
    """Clear errors for loop sizes that fit no loop (called by solvers' Configs, after each
    size alone was checked against its range)."""
    n = config.num_envs
    if config.buffer_size < max(n, batch_size):
        raise JaxilError(
            f"buffer_size ({config.buffer_size}) must hold at least one batch and one step of all envs "
            f"({max(n, batch_size)})."
        )
    if config.warmup_steps < n:
        raise JaxilError(f"warmup_steps ({config.warmup_steps}) must cover at least one step of all envs ({n}).")
    for name in ("steps", "eval_every", "warmup_steps"):
        if getattr(config, name) % n:
            raise JaxilError(f"{name} ({getattr(config, name)}) must be a multiple of num_envs ({n}).")
    chunking(config.steps // n, config.eval_every // n)
