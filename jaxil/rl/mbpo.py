"""MBPO (Janner et al. 2019): SAC trained mostly on short rollouts of a dynamics ensemble
that is refitted to the real transitions as they come in, so that each env step buys
many updates. As CleanIL runs it, all inside one compiled loop:

    warm-up: ``warmup_steps`` env steps of uniformly random actions
    every ``model_every`` env steps (one loop step):
        fit the ensemble (:func:`jaxil.rl.dynamics.refit`) to up to ``model_rows`` real
            transitions drawn without replacement: hold-out, per-member shuffles, early
            stopping, each member at its best weights, elites; the fit continues from the
            previous one's weights with the input scaler refitted
        imagine: ``rollout_batch`` real states, h steps of the current (stochastic) policy
            in the model (one elite per row; terminated rows end), into the model buffer
            h = min_h + ⌊clip((t − t₀)/(t₁ − t₀), 0, 1) (max_h − min_h)⌋,  t = env steps
        then ``model_every`` env steps, each after ``updates_per_step`` SAC updates
            (:func:`jaxil.rl.sac.update`) on ``real_batch`` real + the rest model rows

Where CleanIL differs, on purpose: the model's optimiser has its own learning rate
(CleanIL passes the actor's); hold-out ranked by MSE (CleanIL: MAE; see
:mod:`jaxil.rl.dynamics`). Inside jit a rollout always runs ``max_horizon`` steps and
writes only the first h of them, so shapes stay fixed as h grows.

``update(state, batch)`` is SAC's on a batch already mixed from both buffers.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.envs.core import Env, EnvSpec
from jaxil.envs.termination import termination_fn
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.loop import Train, chunking
from jaxil.rl import dynamics, model_based, model_rollouts, offpolicy, sac
from jaxil.types import Transition, concat, example_transition


@struct.dataclass
class Config(sac.Config):
    """MBPO with CleanIL's settings: SAC 3×256 SiLU with Huber critics, 10 updates per env
    step on 128 real + 128 model rows; the 7-member 3×200 ensemble (5 elites) refitted
    every 250 env steps on up to 100k rows (≤ 200 epochs); 100k rollouts whose horizon
    grows 1 → 15 between 20k and 100k env steps."""

    hidden: tuple[int, ...] = static((256, 256, 256))
    activation: str = static("silu")
    critic_loss: str = static("huber")
    updates_per_step: int = static(10)
    steps: int = static(100_000)
    eval_every: int = static(5_000)
    real_batch: int = static(128)
    """rows of each update from the real buffer (the rest from the model buffer)."""
    model_every: int = static(250)
    """env steps between model fits (and rollouts)."""
    model_rows: int = static(100_000)
    """most real rows a fit uses (drawn without replacement)."""
    model_members: int = static(7)
    """ensemble members."""
    model_elites: int = static(5)
    """members rollouts sample from (the lowest hold-out MSE)."""
    model_hidden: tuple[int, ...] = static((200, 200, 200))
    """hidden widths of each member."""
    model_lr: float = 3e-4
    """Adam learning rate of the ensemble."""
    model_batch: int = static(256)
    """rows per member per model update."""
    model_epochs: int = static(200)
    """most epochs per fit (early stopping usually ends it sooner)."""
    model_patience: int = static(10)
    """epochs without any member improving after which a fit stops."""
    rollout_batch: int = static(100_000)
    """start states per rollout."""
    min_horizon: int = static(1)
    """imagined steps per rollout at first."""
    max_horizon: int = static(15)
    """imagined steps per rollout at last."""
    horizon_from: int = static(20_000)
    """env steps at which the horizon starts to grow."""
    horizon_to: int = static(100_000)
    """env steps at which it reaches ``max_horizon``."""
    model_buffer_size: int = static(1_500_000)
    """capacity of the model buffer (FIFO); holds at least one full rollout."""

    def __post_init__(self) -> None:
        super().__post_init__()
        model_based.check_mix(self.real_batch, self.batch_size, self.model_buffer_size, self.rollout_batch,
                              self.max_horizon, "max_horizon")
        if self.min_horizon > self.max_horizon or self.horizon_from >= self.horizon_to:
            raise JaxilError(f"the horizon grows from min_horizon ({self.min_horizon}) to max_horizon "
                             f"({self.max_horizon}) between horizon_from ({self.horizon_from}) and horizon_to "
                             f"({self.horizon_to}) env steps: need min ≤ max and from < to.")
        if self.model_every % self.num_envs:
            raise JaxilError(f"model_every ({self.model_every}) must be a multiple of num_envs ({self.num_envs}).")
        for name in ("steps", "eval_every"):
            if getattr(self, name) % self.model_every:
                raise JaxilError(f"{name} ({getattr(self, name)}) must be a multiple of model_every "
                                 f"({self.model_every}, the env steps between model fits).")
        rows = min(self.warmup_steps, self.model_rows)
        held = dynamics.holdout_size(self.dynamics_config(), rows)
        if rows - held < self.model_batch:
            raise JaxilError(f"the first model fit has {rows} warm-up rows, {held} of them held out: too few for one "
                             f"batch of {self.model_batch}; raise --warmup-steps or lower --model-batch.")

    def dynamics_config(self) -> dynamics.Config:
        return dynamics.Config(members=self.model_members, elites=self.model_elites, hidden=self.model_hidden,
                               lr=self.model_lr, batch_size=self.model_batch, steps=self.model_epochs,
                               patience=self.model_patience, predict_reward=True)


@struct.dataclass
class State:
    learner: sac.State
    model: dynamics.State
    model_buffer: replay.ReplayBuffer


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "mbpo.init")
    k_sac, k_model = jax.random.split(key)
    width = spec.obs_dim + spec.action_dim
    scaler = dynamics.Scaler(jnp.zeros(width), jnp.ones(width))  # each fit refits it
    return State(sac.init(k_sac, config, spec), dynamics.init(k_model, config.dynamics_config(), spec, scaler),
                 replay.init(config.model_buffer_size, example_transition(spec)))


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """SAC on a batch of real and model rows."""
    learner, metrics = sac.update(state.learner, batch)
    return state.replace(learner=learner), metrics


def policy(state: State, obs: jax.Array):
    return sac.policy(state.learner, obs)


def horizon(config: Config, env_steps: jax.Array) -> jax.Array:
    """h = min_h + ⌊clip((t − t₀)/(t₁ − t₀), 0, 1)(max_h − min_h)⌋ at ``env_steps`` t."""
    frac = jnp.clip((env_steps - config.horizon_from) / (config.horizon_to - config.horizon_from), 0.0, 1.0)
    return config.min_horizon + jnp.floor(frac * (config.max_horizon - config.min_horizon)).astype(jnp.int32)


def shuffled_rows(key: jax.Array, buffer: replay.ReplayBuffer, rows: int) -> tuple[Transition, jax.Array]:
    """(up to ``rows`` of the buffer's valid rows in random order, without replacement;
    how many are valid). The shape is fixed at min(rows, capacity)."""
    rows = min(rows, buffer.capacity)
    valid = jnp.arange(buffer.capacity) < buffer.size
    idx = jnp.argsort(jnp.where(valid, jax.random.uniform(key, (buffer.capacity,)), 2.0))[:rows]
    return buffer.layout.unpack(buffer.rows[idx]), jnp.minimum(buffer.size, rows)


def make_train(
    config: Config,
    env: Env,
    reference: Reference | None = None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Train:
    """``train(key) -> (state, metrics)``: warm-up, then ``config.steps`` env steps of
    MBPO on ``env``. ``terminated_fn`` ends imagined episodes (default: the env's rule in
    :mod:`jaxil.envs.termination`)."""
    configs.check_type(config, Config, "mbpo.make_train")
    spec = env.spec
    if spec.discrete:
        raise JaxilError(f"MBPO models continuous actions; env {spec.name!r} has discrete ones.")
    terminated_fn = terminated_fn or termination_fn(spec.name)
    n = config.num_envs
    init_fn = offpolicy.initial_state(config, env, lambda key: init(key, config, spec), offpolicy.random_behaviour(spec))
    behaviour = offpolicy.policy_behaviour(policy)

    def learn(agent: State, buffer: replay.ReplayBuffer, key: jax.Array):
        k_real, k_model = jax.random.split(key)
        batch = concat(replay.sample(k_real, buffer, config.real_batch),
                       replay.sample(k_model, agent.model_buffer, config.batch_size - config.real_batch))
        return update(agent, batch)

    def step(ts: offpolicy.TrainState):
        key, k_rows, k_fit, k_start, k_roll = jax.random.split(ts.key, 5)
        agent = ts.agent
        rows, count = shuffled_rows(k_rows, ts.buffer, config.model_rows)
        model_state, fit = dynamics.refit(agent.model, k_fit, rows, count)
        starts = replay.sample(k_start, ts.buffer, config.rollout_batch).obs

        def act(k, obs):
            return sac.policy(agent.learner, obs).sample(seed=k)

        imagined, live, info = model_rollouts.rollout(k_roll, dynamics.model(model_state), act, starts,
                                                      config.max_horizon, terminated_fn, prune="terminated")
        h = horizon(config, ts.iteration * n)
        live = live & (jnp.arange(config.max_horizon)[:, None] < h)
        agent = agent.replace(model=model_state, model_buffer=model_based.write(agent.model_buffer, imagined, live))
        ts, metrics = jax.lax.scan(
            lambda s, _: offpolicy.iteration(env, s, learn, config.updates_per_step, behaviour),
            ts.replace(agent=agent, key=key), None, config.model_every // n,
        )
        metrics = jax.tree.map(jnp.mean, metrics) | fit | {
            "train_return": ts.last_return, "horizon": h, "rollout_live": jnp.sum(live) / (h * config.rollout_batch),
            "rollout_nonfinite": info["nonfinite"] / config.rollout_batch,
        }
        return ts, metrics

    num_chunks, per_chunk = chunking(config.steps // config.model_every, config.eval_every // config.model_every)
    return Train(init_fn, step, offpolicy.evaluator(config, env, policy, reference), num_chunks, per_chunk,
                 learner=lambda ts: ts.agent, problem=model_rollouts.nonfinite_problem)

