"""What the offline model-based solvers share (MOPO, RAMBO; the model-based IRL family
builds on them): a SAC learner updated on data rows plus imagined rows, the imagined rows
rolled out from data start states into a FIFO model buffer."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.data.datasets import sample
from jaxil.envs.core import Env
from jaxil.envs.termination import termination_fn
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference, evaluate_policy
from jaxil.loop import Train, chunking
from jaxil.rl import dynamics, model_rollouts, sac
from jaxil.types import Transition, check_batch, concat


@struct.dataclass
class Config(configs.Config):
    """SAC and the imagination schedule, CleanIL's settings (3×256 SiLU, 128 data + 128
    model rows, 5000 × 40 rollouts every 250 updates)."""

    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics."""
    alpha_lr: float = 3e-4
    """Adam learning rate of the temperature."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """polyak rate of the target critics."""
    init_alpha: float = 1.0
    """initial temperature (learned)."""
    hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of actor and critics."""
    activation: str = static("silu")
    """activation of actor and critics."""
    critic_loss: str = static("mse")
    """"mse" or "huber" TD loss."""
    critic_zero_init: bool = static(False)
    """start every critic head at Q ≡ 0 (a zeroed last layer)."""
    learn_alpha: bool = static(True)
    """tune α towards the target entropy (else keep init_alpha)."""
    batch_size: int = static(256)
    """rows per SAC update."""
    real_batch: int = static(128)
    """of which rows from the data (the rest from the model buffer)."""
    rollout_batch: int = static(5000)
    """start states per rollout."""
    horizon: int = static(40)
    """imagined steps per rollout."""
    rollout_every: int = static(250)
    """updates between rollouts."""
    model_buffer_size: int = static(1_000_000)
    """capacity of the model buffer (FIFO)."""
    steps: int = static(1_000_000)
    """SAC updates."""
    eval_every: int = static(10_000)
    """updates between evaluations (a multiple of rollout_every)."""
    eval_episodes: int = static(10)
    """episodes per evaluation."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_mix(self.real_batch, self.batch_size, self.model_buffer_size, self.rollout_batch, self.horizon, "horizon")
        for name in ("steps", "eval_every"):
            if getattr(self, name) % self.period:
                raise JaxilError(f"{name} ({getattr(self, name)}) must be a multiple of {self.period} "
                                 "(the updates of one loop step).")

    @property
    def period(self) -> int:
        """Updates per loop step (one rollout and its updates; solvers may lengthen it)."""
        return self.rollout_every

    def sac_config(self) -> sac.Config:
        return sac.Config(actor_lr=self.actor_lr, critic_lr=self.critic_lr, alpha_lr=self.alpha_lr, gamma=self.gamma,
                          tau=self.tau, init_alpha=self.init_alpha, hidden=self.hidden, activation=self.activation,
                          critic_loss=self.critic_loss, critic_zero_init=self.critic_zero_init,
                          learn_alpha=self.learn_alpha, batch_size=self.batch_size, buffer_size=self.batch_size,
                          warmup_steps=1, steps=self.steps, eval_every=self.eval_every, eval_episodes=self.eval_episodes)


def check_mix(real_batch: int, batch_size: int, model_buffer_size: int, rollout_batch: int, horizon: int,
              horizon_name: str) -> None:
    """Clear errors for a batch that is not part data, part model rows, and for a model
    buffer that cannot hold one rollout (MOPO, RAMBO, MBPO)."""
    if not 0 < real_batch < batch_size:
        raise JaxilError(f"real_batch ({real_batch}) must lie between 0 and batch_size ({batch_size}).")
    if model_buffer_size < rollout_batch * horizon:
        raise JaxilError(f"model_buffer_size ({model_buffer_size}) must hold one rollout "
                         f"(rollout_batch × {horizon_name} = {rollout_batch * horizon}).")


def check_model(model: dynamics.Model, env: Env, algo: str, reward: bool) -> None:
    if reward and not model.config.predict_reward:
        raise JaxilError(f"{algo} needs a model with a reward head: fit it with jaxil train dynamics --predict-reward.")
    if model.spec.obs_dim != env.spec.obs_dim or model.spec.action_dim != env.spec.action_dim:
        raise JaxilError(f"the model is for obs {model.spec.obs_dim}, action {model.spec.action_dim}; env "
                         f"{env.spec.name!r} has obs {env.spec.obs_dim}, action {env.spec.action_dim}.")


def imagine(k_start: jax.Array, k_roll: jax.Array, learner: sac.State, model: dynamics.Model, data: Transition,
            config: Config, terminated_fn: Callable, prune: str, penalty: bool = False):
    """A rollout of the current (stochastic) policy from ``rollout_batch`` data states:
    :func:`jaxil.rl.model_rollouts.rollout`'s (rows, live, info)."""
    starts = sample(k_start, data, config.rollout_batch).obs

    def act(k, obs):
        return sac.policy(learner, obs).sample(seed=k)

    return model_rollouts.rollout(k_roll, model, act, starts, config.horizon, terminated_fn, prune=prune,
                                  penalty=penalty)


def write(buffer: replay.ReplayBuffer, rows: Transition, live: jax.Array) -> replay.ReplayBuffer:
    """The live rows of a (horizon, N) rollout into the model buffer."""
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), rows)
    return replay.add(buffer, flat, keep=live.reshape(-1))


def learn(key: jax.Array, learner, buffer: replay.ReplayBuffer, data: Transition, config: Config,
          update: Callable, updates: int | None = None) -> tuple:
    """``updates`` (default ``rollout_every``) updates, each on ``real_batch`` data rows +
    the rest model rows; metrics averaged."""

    def one(learner, k):
        k_real, k_model = jax.random.split(k)
        batch = concat(sample(k_real, data, config.real_batch),
                       replay.sample(k_model, buffer, config.batch_size - config.real_batch))
        return update(learner, batch)

    learner, metrics = jax.lax.scan(one, learner, jax.random.split(key, updates or config.rollout_every))
    return learner, {k: v.mean() for k, v in metrics.items()}


def live_mean(x: jax.Array, live: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(live, x, 0.0)) / jnp.maximum(jnp.sum(live), 1)


def adversarial_period(ts: "TrainState", config, rollout_and_learn: Callable, model_step: Callable) -> tuple:
    """RAMBO's loop step (and RMIRL's): ``period // rollout_every`` times
    ``rollout_and_learn(ts, key)`` (a rollout and its updates), then ``model_steps``
    adversarial steps ``model_step(learner, key)``; metrics averaged."""
    key, k_learn, k_model = jax.random.split(ts.key, 3)
    ts, metrics = jax.lax.scan(rollout_and_learn, ts, jax.random.split(k_learn, config.period // config.rollout_every))
    learner, model_metrics = jax.lax.scan(model_step, ts.learner, jax.random.split(k_model, config.model_steps))
    metrics = {k: v.mean() for k, v in (metrics | model_metrics).items()}
    return ts.replace(learner=learner, key=key), metrics


@struct.dataclass
class TrainState:
    learner: Any  # the solver's State; its ``learner`` field is the SAC learner
    model_buffer: replay.ReplayBuffer
    key: jax.Array


def make_loop(
    config: Config,
    data: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None,
    algo: str,
    init_learner: Callable[[jax.Array, Transition], Any],
    period: Callable[[TrainState, Transition, Callable], tuple[TrainState, dict]],
    policy: Callable,
    reward_head: bool = True,
) -> Train:
    """The loop of an offline model-based solver: data and model checked, an empty model
    buffer, ``period(ts, data, terminated_fn)`` per loop step (``config.period`` updates),
    the policy evaluated on ``env`` with the updates done. ``terminated_fn`` ends imagined
    episodes (default: the env's rule in :mod:`jaxil.envs.termination`). ``reward_head``:
    whether the solver needs the model's reward (imitation learners learn their own)."""
    check_batch(data, env.spec, "data")
    check_model(model, env, algo, reward=reward_head)
    terminated_fn = terminated_fn or termination_fn(env.spec.name)
    data = jax.tree.map(jnp.asarray, data)
    num_chunks, per_chunk = chunking(config.steps // config.period, config.eval_every // config.period)
    example = jax.tree.map(lambda x: x[0], data)

    def init_fn(key: jax.Array) -> TrainState:
        k_init, k_loop = jax.random.split(key)
        return TrainState(init_learner(k_init, data), replay.init(config.model_buffer_size, example), k_loop)

    def evaluate(ts: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        metrics = evaluate_policy(env, lambda o: policy(ts.learner, o), key, config.eval_episodes, reference)
        return metrics | {"updates": ts.learner.learner.step}

    return Train(init_fn, lambda ts: period(ts, data, terminated_fn), evaluate, num_chunks, per_chunk,
                 learner=lambda ts: ts.learner, problem=model_rollouts.nonfinite_problem)
