"""IQ-Learn (Garg et al. 2021), offline, with a χ²-regularized implicit reward.

A critic Q(s, a) defines the reward it implies, r(s, a) = Q(s, a) − γ(1 − d)V̄(s'),
with V̄(s') = min_i Q̄_i(s', a') − α log π(a'|s'), a' ~ π(·|s'). On expert data alone
the critic maximizes expert Q against the policy's Q on the same states, while the χ²
regularizer E_E[r²] keeps the implied reward small (a TD loss towards y = γ(1 − d)V̄):

    contrastive:  L_cd = −mean_i (E_E Q_i(s, a_E) − E_E Q_i(s, ã)),   ã ~ π(·|s)
    χ² / TD:      L_td = Σ_i ½ E_E (Q_i(s, a_E) − y)²
    penalty:      GP   = margin penalty on ‖∇_[s,a] Q_i‖_∞ above 1 at interpolates of
                         [s, a_E] and [s, ã], averaged over heads
    critic:       L_Q  = (1 − τ_td) L_cd + τ_td L_td + λ_gp GP

The policy is then extracted from Q, by advantage-weighted regression on (noised)
expert actions (``actor_update="awr"``, CleanIL's default, α fixed) or by a SAC actor
step on expert states with a learned temperature (``"sac"``); CleanIL's seed blog
compares the two. One update: critic, actor (and temperature), polyak.

Differences from CleanIL (``../shared/reference/cleanil.md`` §3.3, §8), on purpose:
the TD mask uses each transition's own ``terminated`` flag (CleanIL reads a flag
shifted by one step), and next observations at episode ends are the real final
observations (CleanIL's loader zero-fills them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.rl import awr, sac
from jaxil.types import Transition, check_batch

ACTOR_UPDATES = ("awr", "sac")


@struct.dataclass
class Config(offline.Config):
    """IQ-Learn (offline). Float fields may be arrays (a sweep is a vmap over configs).
    Defaults follow CleanIL's benchmark configs."""

    actor_lr: float = 3e-4
    """actor Adam learning rate."""
    critic_lr: float = 3e-4
    """critic Adam learning rate."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """polyak rate of the target critic."""
    td_weight: float = 0.5
    """τ_td: weight of the χ² (TD) term against the contrastive term."""
    gp_weight: float = 10.0
    """λ_gp: weight of the gradient penalty."""
    gp_target: float = 1.0
    """gradient ∞-norm above which the penalty applies."""
    alpha: float = 0.1
    """temperature: AWR's β, and the entropy weight in V̄ (initial value with "sac")."""
    action_noise: float = 0.1
    """AWR: std of the Gaussian noise on expert actions."""
    action_noise_fraction: float = 0.5
    """AWR: fraction of expert actions that get noise."""
    actor_update: str = static("awr")
    """policy extraction: "awr" (weighted likelihood) or "sac" (maximize Q, learned α)."""
    awr_max_weight: float = static(100.0)
    """AWR weight clip."""
    batch_size: int = static(256)
    """expert transitions per update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.actor_update not in ACTOR_UPDATES:
            raise JaxilError(f"actor_update must be one of {ACTOR_UPDATES}, got {self.actor_update!r}.")

    def sac_config(self) -> sac.Config:
        """The SAC learner that holds IQ-Learn's actor, critics and optimizers."""
        return sac.Config(
            actor_lr=self.actor_lr, critic_lr=self.critic_lr, alpha_lr=self.actor_lr, gamma=self.gamma,
            tau=self.tau, init_alpha=self.alpha, hidden=self.hidden, activation=self.activation,
            learn_alpha=self.actor_update == "sac", batch_size=self.batch_size,
        )


@struct.dataclass
class State:
    learner: sac.State
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "iqlearn.init")
    return State(sac.init(key, config.sac_config(), spec, obs_mean, obs_std), config)


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def contrastive_loss(q_expert: jax.Array, q_policy: jax.Array) -> jax.Array:
    """L_cd = −mean_i (E Q_i(s, a_E) − E Q_i(s, ã)); inputs are (num_qs, B)."""
    return -jnp.mean(jnp.mean(q_expert, axis=1) - jnp.mean(q_policy, axis=1))


def chi2_td_loss(q_expert: jax.Array, target: jax.Array) -> jax.Array:
    """L_td = Σ_i ½ E (Q_i(s, a_E) − y)², y held fixed: E[r²] of the implied reward."""
    return jnp.sum(0.5 * jnp.mean(jnp.square(q_expert - jax.lax.stop_gradient(target)[None]), axis=1))


def critic_loss(critic_params, state: State, batch: Transition, policy_action: jax.Array, target: jax.Array, key):
    """L_Q = (1 − τ_td) L_cd + τ_td L_td + λ_gp GP on one expert batch."""
    cfg, learner = state.config, state.learner
    q = lambda o, a: sac.q_values(learner, critic_params, o, a)  # noqa: E731
    q_expert, q_policy = q(batch.obs, batch.action), q(batch.obs, policy_action)
    l_cd, l_td = contrastive_loss(q_expert, q_policy), chi2_td_loss(q_expert, target)
    # The penalty is on gradients w.r.t. normalized observations (the critic's inputs).
    obs = sac.normalize(learner, batch.obs)
    gp = sac.critic_gradient_penalty(
        learner, critic_params, jnp.concatenate([obs, batch.action], -1), jnp.concatenate([obs, policy_action], -1),
        key, target=cfg.gp_target, weight=cfg.gp_weight,
    )
    loss = (1.0 - cfg.td_weight) * l_cd + cfg.td_weight * l_td + gp
    metrics = {"critic_loss": loss, "contrastive_loss": l_cd, "td_loss": l_td, "grad_penalty": gp,
               "q_expert": jnp.mean(q_expert), "q_policy": jnp.mean(q_policy)}
    return loss, metrics


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """Critic, actor (AWR or SAC, with temperature), polyak; all on one expert batch."""
    check_batch(batch, state.learner.spec)
    cfg, learner = state.config, state.learner
    key, k_pi, k_target, k_gp, k_noise = jax.random.split(learner.key, 5)
    # Soft target with zero reward: y = γ(1 − d)V̄(s').
    target = sac.soft_target(learner, batch.replace(reward=jnp.zeros_like(batch.reward)), k_target)
    policy_action = jax.lax.stop_gradient(sac.policy(learner, batch.obs).sample(seed=k_pi))
    learner, m_critic = sac.step_critic(learner, critic_loss, state, batch, policy_action, target, k_gp)
    learner = learner.replace(key=key)
    if cfg.actor_update == "awr":
        data_action = awr.perturb_actions(k_noise, batch.action, cfg.action_noise, cfg.action_noise_fraction)
        learner, m_actor = awr.update_actor(learner, batch.obs, data_action, cfg.alpha, cfg.awr_max_weight)
    else:
        learner, m_actor = sac.update_actor(learner, batch.obs)
        learner, m_alpha = sac.update_temperature(learner, m_actor["log_prob"])
        m_actor = m_actor | m_alpha
    return state.replace(learner=sac.update_target(learner)), m_critic | m_actor


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates on expert ``data``,
    evaluated on ``env`` every ``config.eval_every`` updates."""
    configs.check_type(config, Config, "iqlearn.make_train")
    offline.check_expert_data(data, env, "IQ-Learn", continuous=True)
    return offline.make_train(
        config, data, env, reference,
        init=lambda key: init(key, config, env.spec, data.obs_mean, data.obs_std),
        update=update,
        policy=policy,
    )
