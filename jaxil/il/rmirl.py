"""RMIRL: robust model-based IRL, offline maximum-likelihood IRL with RAMBO as the
policy's solver (CleanIL's ``rmirl``; ``../shared/reference/cleanil.md`` §3.8).

Data, rollouts, the policy's updates and the reward's updates are OMLIRL's
(:mod:`jaxil.il.omlirl`, :mod:`jaxil.il.model_based`) without an uncertainty penalty:
the policy's reward is r_ψ(s, a) alone. What keeps the policy from exploiting the model
is the model itself, trained adversarially as in RAMBO (:mod:`jaxil.rl.rambo`): every
``model_update_every`` updates its elites take ``model_steps`` steps of

    A  = r_ψ(s, a) + γ(1 − d′)(clip(min_i Q_i(s′, a′)) − α log π(a′|s′)) − clip(min_i Q_i(s, a))
    Â  = clip((A − mean A)/(std A + 1e-6), ±adv_clip)
    L  = adv_weight · mean[Â · log p(s′ | s, a)]/(obs_dim + 1) + L_sl(T rows)

on imagined transitions of the stochastic policy (a′ ~ π(·|s′), the online critics
clipped to ±``max_q``), started from half expert, half T states: the model learns to
make transitions that look good to the policy less likely where the data leave it free.

Differences from CleanIL, on purpose: those of OMLIRL (flags, next observations,
walker2d's rule), and the model's input scaler stays the one it was fitted with (CleanIL
refits it on T at every adversarial phase, cleanil.md §8.8).
"""

from __future__ import annotations

from typing import Callable

import jax
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import model_based, offline
from jaxil.loop import Train
from jaxil.rl import dynamics, rambo, sac
from jaxil.rl import model_based as solver_loop
from jaxil.types import RewardFn, Transition


@struct.dataclass
class Config(model_based.RewardConfig, model_based.AdversarialConfig, rambo.Config):
    """RMIRL with CleanIL's settings (cleanil.md §5.3): OMLIRL's policy and reward
    settings without the penalty, critics starting at Q ≡ 0, and every 1000 updates 100
    adversarial model steps at lr 1e-4 with weight 0.05."""

    init_alpha: float = 0.1
    """initial temperature (learned)."""
    critic_loss: str = static("mse")
    critic_zero_init: bool = static(True)
    adv_weight: float = 0.05
    """weight of the adversarial term."""
    model_steps: int = static(100)
    """adversarial model steps per phase."""


@struct.dataclass
class State:
    learner: sac.State
    reward_params: dict
    reward_opt: optax.OptState
    model: dynamics.Model  # the elites, trained adversarially
    model_opt: optax.OptState
    adv_obs: jax.Array  # (adv_batch, obs) where each adversarial rollout stands
    adv_t: jax.Array  # (adv_batch,) its steps so far
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, model: dynamics.Model, obs_mean: jax.Array | None = None,
         obs_std: jax.Array | None = None, start_obs: jax.Array | None = None) -> State:
    """The SAC learner, the reward, and the model reduced to its elites (reward head
    removed); adversarial rollouts start at ``start_obs`` (adv_batch, obs) (zeros if not
    given; make_train draws them from the data)."""
    configs.check_type(config, Config, "rmirl.init")
    k_sac, k_reward = jax.random.split(key)
    reward_params, reward_opt = model_based.init_reward(k_reward, config, spec.obs_dim, spec.action_dim)
    return State(sac.init(k_sac, config.sac_config(), spec, obs_mean, obs_std), reward_params, reward_opt,
                 config=config, **model_based.init_adversary(config, spec, model, start_obs))


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def update(state: State, batch: tuple[Transition, Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """One iteration on given rows ``(expert, model_rows, policy_batch)``: a SAC update on
    ``policy_batch`` labelled with the current reward, then one reward step on expert vs
    model rows (the loop takes ``reward_every`` policy updates per reward step)."""
    expert, model_rows, policy_batch = model_based.check_iteration(state, batch)
    state, m_policy = model_based.update_policy(state, policy_batch)  # no penalty: its reward field is unused
    state, m_reward = model_based.update_reward(state, expert, model_rows)
    return state, m_policy | m_reward


learned_reward: Callable[[State], RewardFn] = model_based.learned_reward


def advantage(state: State, t: Transition, key: jax.Array) -> jax.Array:
    """RMIRL's raw advantage of model transitions ``t``: the learned reward plus the soft
    value of s′ (terminal rows masked), minus Q(s, a)."""
    r = model_based.reward(state, state.reward_params, t.obs, t.action)
    return model_based.soft_advantage(state, t, key, r, mask_terminal=True)


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
    data and ``suboptimal`` transitions in ``model`` (fitted to them; trained adversarially
    as it goes), evaluated on ``env``. One loop step is ``model_update_every`` updates
    (with their rollouts), then one adversarial phase."""
    configs.check_type(config, Config, "rmirl.make_train")

    def period(ts: solver_loop.TrainState, data: Transition, expert_rows: Transition, model: dynamics.Model,
               terminated_fn: Callable):
        def learn(key: jax.Array, state: State, buffer):
            return model_based.learn(key, state, buffer, data, expert_rows, config)

        return model_based.adversarial_period(ts, data, expert_rows, terminated_fn, config, learn, advantage)

    return model_based.make_loop(config, expert, suboptimal, model, env, reference, terminated_fn, "RMIRL",
                                 model_based.starting_adversary(init, config, env.spec, expert.train), period, policy)
