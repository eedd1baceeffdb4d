"""OMLIRL: offline maximum-likelihood IRL (Zeng et al. 2023, "When demonstrations meet
generative world models"), with MOPO as the policy's solver, as CleanIL runs it.

A reward r_ψ and a policy are learned from E (the expert's rows) and T (E ∪ sub-optimal
rows, rewards dropped) inside a dynamics ensemble fitted to T. The policy is MOPO's: SAC
in the model, its reward lowered where the model is unsure, so the reward it maximises
cannot be exploited off the data. The reward's step is maximum likelihood's: raise
r_ψ on expert transitions, lower it on the policy's imagined ones.

    every ``rollout_every`` updates: ``rollout_batch`` starts (half E, half T), ``horizon``
        imagined steps (:mod:`jaxil.il.model_based`), each step storing the rows'
        uncertainty u = mean_d sqrt(mean_k σ²_k + var_k μ_k) (all members) and taking one
        λ step:  L_λ = mean[λ · sg(λu − target)]  (:func:`jaxil.rl.mopo.tune_penalty`)
    every update: SAC on T + model rows labelled r̂ = clip(r_ψ(s, a)) − λ u with the
        *current* λ (u stored, 0 on data rows)
    every ``reward_every`` updates: L_r = −(E_E r_ψ − E_M r_ψ) + GP + l2 (E vs model rows)

Differences from CleanIL (``../shared/reference/cleanil.md`` §3.7, §8), on purpose:
termination flags are each transition's own and next observations at episode ends are
real (§8.3–4); walker2d's termination rule denormalises correctly (§8.2); the SAC
critic is not clipped to ±1000 (the reward is bounded; see :mod:`jaxil.il.model_based`).
As in CleanIL all members enter the penalty and elites alone are sampled.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import model_based, offline
from jaxil.loop import Train
from jaxil.rl import dynamics, mopo, sac
from jaxil.rl import model_based as solver_loop
from jaxil.types import RewardFn, Transition


@struct.dataclass
class Config(model_based.RewardConfig, mopo.Config):
    """OMLIRL with CleanIL's settings (cleanil.md §5.3): SAC 3×256 SiLU, α from 0.1
    (learned), 128 T + 128 model rows; 5000 × 40 rollouts every 250 updates, half from
    expert states; λ from 1 towards a mean penalty of 1; the reward every 10 updates."""

    init_alpha: float = 0.1
    """initial temperature (learned)."""


@struct.dataclass
class State:
    learner: sac.State
    reward_params: dict
    reward_opt: optax.OptState
    log_penalty: jax.Array  # log λ
    penalty_opt: optax.OptState
    config: Config

    @property
    def penalty(self) -> jax.Array:
        return jnp.exp(self.log_penalty)


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array | None = None,
         obs_std: jax.Array | None = None) -> State:
    configs.check_type(config, Config, "omlirl.init")
    k_sac, k_reward = jax.random.split(key)
    reward_params, reward_opt = model_based.init_reward(k_reward, config, spec.obs_dim, spec.action_dim)
    return State(sac.init(k_sac, config.sac_config(), spec, obs_mean, obs_std), reward_params, reward_opt,
                 *mopo.init_penalty(config), config)


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def update(state: State, batch: tuple[Transition, Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """One iteration on given rows ``(expert, model_rows, policy_batch)``: a SAC update on
    ``policy_batch`` (its ``reward`` field holding u, 0 for data rows) labelled with the
    current reward and penalty, then one reward step on expert vs model rows (the loop
    takes ``reward_every`` policy updates per reward step)."""
    expert, model_rows, policy_batch = model_based.check_iteration(state, batch)
    state, m_policy = model_based.update_policy(state, policy_batch, state.penalty)
    state, m_reward = model_based.update_reward(state, expert, model_rows)
    return state, m_policy | m_reward


learned_reward: Callable[[State], RewardFn] = model_based.learned_reward


def make_train(
    config: Config,
    expert: ExpertData,
    suboptimal: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None = None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` policy updates from ``expert``
    data and ``suboptimal`` transitions in ``model`` (fitted to them), evaluated on ``env``.
    ``terminated_fn`` ends imagined episodes (default: the env's rule)."""
    configs.check_type(config, Config, "omlirl.make_train")

    def period(ts: solver_loop.TrainState, data: Transition, expert_rows: Transition, model: dynamics.Model,
               terminated_fn: Callable):
        key, k_roll, k_learn = jax.random.split(ts.key, 3)
        rows, live, info = model_based.imagine(k_roll, ts.learner.learner, model, expert_rows, data, config,
                                               terminated_fn, penalty=True)
        # λ steps on every row that took the step, as CleanIL's: also those leaving the
        # bound (and so not written), which tend to carry the largest u
        state, _ = mopo.tune_penalty(ts.learner, info["uncertainty"], info["stepped"])
        buffer = solver_loop.write(ts.model_buffer, rows.replace(reward=info["uncertainty"]), live)
        state, metrics = model_based.learn(k_learn, state, buffer, data, expert_rows, config, lambda s: s.penalty)
        metrics |= {"penalty": state.penalty, "uncertainty": solver_loop.live_mean(info["uncertainty"], live),
                    "rollout_live": live.mean(), "rollout_nonfinite": info["nonfinite"] / config.rollout_batch}
        return solver_loop.TrainState(state, buffer, key), metrics

    return model_based.make_loop(config, expert, suboptimal, model, env, reference, terminated_fn, "OMLIRL",
                                 lambda key, model, mean, std, data: init(key, config, env.spec, mean, std), period,
                                 policy)
