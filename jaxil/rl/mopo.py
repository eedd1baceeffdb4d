"""MOPO (Yu et al. 2020): offline RL in a learned model whose reward is lowered where the
model is unsure, with SAC as the learner, as CleanIL runs it.

    every ``rollout_every`` updates: ``rollout_batch`` start states drawn from the data,
        ``horizon`` imagined steps in the fitted ensemble (all members, so the penalty
        comes in the same pass; terminated rows end), written to a model buffer with the
        penalised reward   r̃ = r̂ − λ u(s, a),   u = mean_d sqrt(mean_k σ²_k + var_k μ_k)
    penalty weight:  once per rollout step, Adam on log λ with
        L_λ = mean_live[λ · sg(λ u − target)]   (drives the mean penalty λu to ``target``;
        Lu et al. 2022, CleanIL's automatic tuning)
    every update: SAC (:func:`jaxil.rl.sac.update`) on ``real_batch`` data rows plus
        ``batch_size − real_batch`` model rows

The model is a :class:`jaxil.rl.dynamics.Model` with a reward head (``jaxil train
dynamics`` fits one). As in CleanIL all members enter the penalty, elites alone are
sampled; the data is sampled uniformly (CleanIL draws a 2M-row resample with replacement
first, which comes to the same).

``update(state, batch)`` is SAC's on a batch already mixed and penalised; the loop is
:func:`make_train`'s, one step = one rollout and ``rollout_every`` updates.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.loop import Train
from jaxil.rl import dynamics, model_based, sac
from jaxil.types import Transition


@struct.dataclass
class Config(model_based.Config):
    """MOPO with CleanIL's settings (SAC 3×256 SiLU, α from 1, 128 data + 128 model rows,
    5000 × 40 rollouts every 250 updates, λ from 1 towards a mean penalty of 1)."""

    penalty_init: float = 1.0
    """initial penalty weight λ."""
    penalty_target: float = 1.0
    """the mean penalty λu that λ is tuned towards."""
    penalty_lr: float = 0.01
    """Adam learning rate of log λ."""


@struct.dataclass
class State:
    learner: sac.State
    log_penalty: jax.Array  # log λ
    penalty_opt: optax.OptState
    config: Config

    @property
    def penalty(self) -> jax.Array:
        return jnp.exp(self.log_penalty)


def init_penalty(config: Config) -> tuple[jax.Array, optax.OptState]:
    """log λ at ``penalty_init`` and its Adam state."""
    log_penalty = jnp.log(jnp.asarray(config.penalty_init, jnp.float32))
    return log_penalty, optax.adam(config.penalty_lr).init(log_penalty)


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array | None = None,
         obs_std: jax.Array | None = None) -> State:
    configs.check_type(config, Config, "mopo.init")
    return State(sac.init(key, config.sac_config(), spec, obs_mean, obs_std), *init_penalty(config), config)


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """SAC on a mixed batch whose model rows carry the penalised reward."""
    learner, metrics = sac.update(state.learner, batch)
    return state.replace(learner=learner), metrics


def policy(state: State, obs: jax.Array):
    return sac.policy(state.learner, obs)


def penalty_loss(log_penalty: jax.Array, u: jax.Array, live: jax.Array, target: jax.Array) -> jax.Array:
    """L_λ = mean over live rows of λ · sg(λu − target): its gradient lowers λ while the
    mean penalty exceeds the target and raises it below."""
    lam = jnp.exp(log_penalty)
    excess = jax.lax.stop_gradient(lam * u - target)
    return jnp.sum(jnp.where(live, lam * excess, 0.0)) / jnp.maximum(jnp.sum(live), 1)


def tune_penalty(state: State, u: jax.Array, live: jax.Array) -> tuple[State, jax.Array]:
    """One λ step per rollout step (u, live: (horizon, N)); returns the state and the λ in
    force at each step, (horizon,)."""
    opt = optax.adam(state.config.penalty_lr)

    def one(carry, step):
        log_penalty, opt_state = carry
        grad = jax.grad(penalty_loss)(log_penalty, *step, state.config.penalty_target)
        updates, opt_state = opt.update(grad, opt_state)
        return (optax.apply_updates(log_penalty, updates), opt_state), jnp.exp(log_penalty)

    (log_penalty, opt_state), lambdas = jax.lax.scan(one, (state.log_penalty, state.penalty_opt), (u, live))
    return state.replace(log_penalty=log_penalty, penalty_opt=opt_state), lambdas


def make_train(
    config: Config,
    data: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None = None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates on ``data`` (rows of
    transitions) and rollouts in ``model``, evaluated on ``env``. ``terminated_fn`` ends
    imagined episodes (default: the env's rule in :mod:`jaxil.envs.termination`)."""
    configs.check_type(config, Config, "mopo.make_train")

    def period(ts: model_based.TrainState, data: Transition, terminated_fn: Callable):
        key, k_start, k_roll, k_updates = jax.random.split(ts.key, 4)
        rows, live, info = model_based.imagine(k_start, k_roll, ts.learner.learner, model, data, config, terminated_fn,
                                               prune="terminated", penalty=True)
        learner, lambdas = tune_penalty(ts.learner, info["uncertainty"], live)
        rows = rows.replace(reward=rows.reward - lambdas[:, None] * info["uncertainty"])
        buffer = model_based.write(ts.model_buffer, rows, live)
        learner, metrics = model_based.learn(k_updates, learner, buffer, data, config, update)
        metrics |= {"penalty": learner.penalty, "uncertainty": model_based.live_mean(info["uncertainty"], live),
                    "rollout_live": live.mean(), "rollout_nonfinite": info["nonfinite"] / config.rollout_batch}
        return model_based.TrainState(learner, buffer, key), metrics

    return model_based.make_loop(config, data, model, env, reference, terminated_fn, "MOPO",
                                 lambda key, _: init(key, config, env.spec), period, policy)
