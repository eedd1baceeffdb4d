"""RMIRL-implicit: robust model-based IRL without a reward model, the critic itself the
implicit reward (CleanIL's ``rmirl_implicit``; ``../shared/reference/cleanil.md`` §3.9).

As in RMIRL (:mod:`jaxil.il.rmirl`) a dynamics ensemble, reduced to its elites, imagines
rows from half expert, half T starts (here ``horizon`` 20) and is trained adversarially
every ``model_update_every`` updates. There is no reward: as in IQ-Learn and RECOIL the
critic Q separates expert actions from the policy's, and reward ≡ 0 in its TD term. E is
an expert batch, M a batch of model-buffer rows (actions as imagined), ã ~ π(·|s_E)
without gradient, TD a fresh batch of E and M rows (CleanIL's ``decouple_loss``):

    contrastive:  L_cd  = −mean_i (E_E Q_i(s, a_E) − E_M Q_i(s, a_M))
    IBC:          L_ibc = −mean_i (E_E Q_i(s, a_E) − E_E Q_i(s, ã))
    TD:           L_td  = mean_i E_TD (Q_i(s, a) − γ(clip(min_j Q̄_j(s′, a′)) − α log π(a′|s′)))²
    penalty:      GP    = margin penalty on ‖∇_[s,a] Q_i‖_∞ above g at the E and M points
    critic:       L_Q = L_cd + λ_ibc L_ibc + λ_td L_td + λ_gp GP
    actor:        SAC's on the TD states, α fixed

The critic's learning rate follows a cosine from ``critic_lr`` to ``critic_lr_min`` over
``critic_decay_steps`` updates, then stays there. The adversarial advantage is the
reward-free A = γ(clip(min Q(s′, a′)) − α log π(a′|s′)) − clip(min Q(s, a)).

As in CleanIL the TD target bootstraps through terminal flags (imagined rows roll on
past them, sticky) and Q is clipped to ±``max_q`` in targets and advantages only.
Differences from CleanIL, on purpose: those of OMLIRL (flags, next observations,
walker2d's rule) and RMIRL (the model's scaler is not refitted).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import model_based, offline
from jaxil.il.recoil import contrastive_loss, td_loss
from jaxil.loop import Train
from jaxil.rl import dynamics, rambo, sac
from jaxil.rl import model_based as solver_loop
from jaxil.types import Transition, check_batch, concat


@struct.dataclass
class Config(model_based.AdversarialConfig, rambo.Config):
    """RMIRL-implicit with CleanIL's settings (cleanil.md §5.3; gp_target 600 is
    halfcheetah's and hopper's, walker2d's preset takes 100): 128 E + 128 M rows, α 0.1
    fixed, 5000 × 20 rollouts every 250 updates, RMIRL's adversarial model training with
    20-step rollouts. ``real_batch`` counts the expert rows of a batch."""

    init_alpha: float = 0.1
    """the fixed temperature α."""
    learn_alpha: bool = static(False)
    critic_loss: str = static("mse")
    critic_zero_init: bool = static(True)
    horizon: int = static(20)
    adv_horizon: int = static(20)
    adv_weight: float = 0.05
    """weight of the adversarial term."""
    model_steps: int = static(100)
    """adversarial model steps per phase."""
    ibc_coef: float = 1.0
    """λ_ibc, the IBC term's coefficient."""
    td_coef: float = 0.5
    """λ_td, the TD term's coefficient."""
    gp_weight: float = 10.0
    """λ_gp."""
    gp_target: float = 600.0
    """gradient ∞-norm above which the critic's penalty applies."""
    critic_lr_min: float = 1e-5
    """the critic's learning rate after the cosine decay."""
    critic_decay_steps: int = static(300_000)
    """updates over which the critic's learning rate decays."""


@struct.dataclass
class State:
    learner: sac.State
    model: dynamics.Model  # the elites, trained adversarially
    model_opt: optax.OptState
    adv_obs: jax.Array  # (adv_batch, obs) where each adversarial rollout stands
    adv_t: jax.Array  # (adv_batch,) its steps so far
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, model: dynamics.Model, obs_mean: jax.Array | None = None,
         obs_std: jax.Array | None = None, start_obs: jax.Array | None = None) -> State:
    """The SAC learner (critic at Q ≡ 0) and the model reduced to its elites (reward head
    removed); adversarial rollouts start at ``start_obs`` (zeros if not given)."""
    configs.check_type(config, Config, "rmirl_implicit.init")
    return State(sac.init(key, config.sac_config(), spec, obs_mean, obs_std), config=config,
                 **model_based.init_adversary(config, spec, model, start_obs))


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def critic_lr(config: Config, step: jax.Array) -> jax.Array:
    """Cosine decay from critic_lr to critic_lr_min over critic_decay_steps, then flat."""
    schedule = optax.cosine_decay_schedule(1.0, config.critic_decay_steps)
    return config.critic_lr_min + (config.critic_lr - config.critic_lr_min) * schedule(step)


def critic_loss(critic_params, state: State, expert: Transition, model_rows: Transition, td: Transition,
                policy_action: jax.Array, target: jax.Array) -> tuple[jax.Array, dict]:
    """L_Q on expert rows E, model rows M and the TD batch; ``policy_action`` is ã at E's states."""
    cfg, learner = state.config, state.learner
    q = lambda obs, action: sac.q_values(learner, critic_params, obs, action)  # noqa: E731
    q_expert = q(expert.obs, expert.action)
    l_cd = contrastive_loss(q_expert, q(model_rows.obs, model_rows.action))
    l_ibc = contrastive_loss(q_expert, q(expert.obs, policy_action))
    l_td = td_loss(q(td.obs, td.action), target)
    both = concat(expert, model_rows)
    points = jnp.concatenate([sac.normalize(learner, both.obs), both.action], -1)
    gp = sac.critic_gradient_penalty(learner, critic_params, points, target=cfg.gp_target, weight=cfg.gp_weight)
    loss = l_cd + cfg.ibc_coef * l_ibc + cfg.td_coef * l_td + gp
    metrics = {"critic_loss": loss, "contrastive_loss": l_cd, "ibc_loss": l_ibc, "td_loss": l_td, "grad_penalty": gp,
               "q_expert": jnp.mean(q_expert)}
    return loss, metrics


def update(state: State, batch: tuple[Transition, Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """Critic (at the scheduled learning rate), SAC actor (α fixed) and polyak on one
    ``(expert, model_rows, td)`` batch."""
    for b, name in zip(batch, ("expert", "model_rows", "td")):
        check_batch(b, state.learner.spec, name)
    expert, model_rows, td = batch
    cfg, learner = state.config, state.learner
    key, k_pi, k_y = jax.random.split(learner.key, 3)
    next_action, next_logp = sac.policy(learner, td.next_obs).sample_and_log_prob(seed=k_y)
    next_q = jnp.clip(jnp.min(sac.q_values(learner, learner.target_params, td.next_obs, next_action), axis=0),
                      -cfg.max_q, cfg.max_q)
    target = cfg.gamma * (next_q - learner.alpha * next_logp)
    policy_action = jax.lax.stop_gradient(sac.policy(learner, expert.obs).sample(seed=k_pi))
    # the learner's critic_lr is a leaf of its Config: the step at the scheduled rate, the
    # Adam moments unchanged by the rate
    lr = critic_lr(cfg, learner.step)
    scheduled = learner.replace(config=learner.config.replace(critic_lr=lr))
    scheduled, m_critic = sac.step_critic(scheduled, critic_loss, state, expert, model_rows, td, policy_action, target)
    learner = scheduled.replace(config=learner.config, key=key)
    learner, m_actor = sac.update_actor(learner, td.obs)
    learner, m_alpha = sac.update_temperature(learner, m_actor["log_prob"])  # α fixed unless learn_alpha
    metrics = m_critic | m_actor | m_alpha | {"critic_lr": lr}
    return state.replace(learner=sac.update_target(learner)), metrics


def advantage(state: State, t: Transition, key: jax.Array) -> jax.Array:
    """The reward-free advantage γ(clip(min Q(s′, a′)) − α log π(a′|s′)) − clip(min Q(s, a))."""
    return model_based.soft_advantage(state, t, key, jnp.zeros(t.obs.shape[0]), mask_terminal=False)


def make_train(
    config: Config,
    expert: ExpertData,
    suboptimal: Transition,
    model: dynamics.Model,
    env: Env,
    reference: Reference | None = None,
    terminated_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates from ``expert`` data and
    ``suboptimal`` transitions (rollout starts and supervised model rows only) in ``model``
    (trained adversarially as it goes), evaluated on ``env``."""
    configs.check_type(config, Config, "rmirl_implicit.make_train")
    n_expert, n_model = config.real_batch, config.batch_size - config.real_batch

    def period(ts: solver_loop.TrainState, data: Transition, expert_rows: Transition, model: dynamics.Model,
               terminated_fn: Callable):
        def one(state: State, buffer: replay.ReplayBuffer, key: jax.Array):
            k = jax.random.split(key, 4)
            td = concat(sample(k[2], expert_rows, n_expert), replay.sample(k[3], buffer, n_model))
            return update(state, (sample(k[0], expert_rows, n_expert), replay.sample(k[1], buffer, n_model), td))

        def learn(key: jax.Array, state: State, buffer: replay.ReplayBuffer):
            state, metrics = jax.lax.scan(lambda s, k: one(s, buffer, k), state,
                                          jax.random.split(key, config.rollout_every))
            return state, {k: v.mean() for k, v in metrics.items()}

        return model_based.adversarial_period(ts, data, expert_rows, terminated_fn, config, learn, advantage)

    return model_based.make_loop(config, expert, suboptimal, model, env, reference, terminated_fn, "RMIRL-implicit",
                                 model_based.starting_adversary(init, config, env.spec, expert.train), period, policy)
