"""RECOIL (Sikchi et al. 2024, "Dual RL"), offline imitation from expert and sub-optimal data.

An implicit-reward critic like IQ-Learn's, but its contrastive term compares expert
actions with the policy's actions on *sub-optimal* states, and two value anchors keep
it from drifting: expert Q is regressed to a fixed target, and the policy's Q on
sub-optimal states is held above a floor. E is an expert batch, T a batch of the
offline transitions (sub-optimal data plus the expert's own), ã ~ π(·|s) without grad:

    contrastive:  L_cd   = −mean_i (E_E Q_i(s, a_E) − E_T Q_i(s, ã))
    χ² / TD:      L_td   = Σ_i ½ E_{E∪T} (Q_i(s, a) − y)²,   y = γ V̄(s')
    expert value: L_qE   = Σ_i ½ E_E (Q_i(s, a_E) − q̂)²
    floor:        L_hinge = Σ_i ½ E_T max(−q̂ − Q_i(s, ã), 0)
    penalty:      GP     = margin penalty on ‖∇_[s,a] Q_i‖_∞ above g at interpolates of
                           [s_E, a_E] and [s_T, ã]
    critic:       L_Q = (1 − τ_td) L_cd + τ_td L_td + λ_qE L_qE + λ_h L_hinge + λ_gp GP

The critic reads an absorbing-state flag (DAC): Q([s·(1 − d), d], a), so a terminal
successor has its own learned value instead of a hard zero, which an implicit reward
needs (ending an episode may be good or bad). A transition into a terminal state
bootstraps from the absorbing input, and each such transition also trains the
absorbing state's self-loop Q(abs, a) → γ V̄(abs). The policy is extracted by AWR on
E∪T, with action noise on the T rows only.

Differences from CleanIL (``../shared/reference/cleanil.md`` §3.4, §8), on purpose:
termination flags are each transition's own (CleanIL's are shifted by one step, which
there trains the absorbing input only on first steps of new episodes), next
observations at episode ends are real, and the absorbing self-loop is trained
explicitly. The floor is written as a hinge that is zero when satisfied (CleanIL's
−min(Q, −q̂) has the same gradient).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.nets.rewards import absorbing_input
from jaxil.rl import awr, sac
from jaxil.types import Transition, check_pair, concat


@struct.dataclass
class Config(offline.Config):
    """RECOIL (offline). Float fields may be arrays. Defaults follow CleanIL's configs."""

    actor_lr: float = 3e-4
    """actor Adam learning rate."""
    critic_lr: float = 3e-4
    """critic Adam learning rate."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """polyak rate of the target critic."""
    td_weight: float = 0.8
    """τ_td: weight of the χ² (TD) term against the contrastive term."""
    q_expert_target: float = 200.0
    """q̂: the value expert actions are regressed to; −q̂ is the floor on T."""
    q_expert_weight: float = 1.0
    """λ_qE."""
    hinge_weight: float = 1.0
    """λ_h."""
    gp_weight: float = 10.0
    """λ_gp (CleanIL: 10 on halfcheetah, 0 on hopper and walker2d)."""
    gp_target: float = 100.0
    """gradient ∞-norm above which the penalty applies."""
    alpha: float = 0.1
    """AWR's β and the entropy weight in V̄."""
    action_noise: float = 0.1
    """std of the Gaussian noise on T actions in the AWR step."""
    action_noise_fraction: float = 0.5
    """fraction of T actions that get noise."""
    awr_max_weight: float = static(100.0)
    """AWR weight clip."""
    expert_batch: int = static(128)
    """expert transitions per update."""
    offline_batch: int = static(128)
    """offline (sub-optimal ∪ expert) transitions per update."""

    def sac_config(self) -> sac.Config:
        return sac.Config(
            actor_lr=self.actor_lr, critic_lr=self.critic_lr, gamma=self.gamma, tau=self.tau,
            init_alpha=self.alpha, hidden=self.hidden, activation=self.activation, learn_alpha=False,
        )


@struct.dataclass
class State:
    learner: sac.State  # its critic reads [normalized s·(1 − d), d]
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "recoil.init")
    learner = sac.init(key, config.sac_config(), spec, obs_mean, obs_std, critic_extra_inputs=1)
    return State(learner, config)


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def q_abs(
    learner: sac.State, params, obs: jax.Array, done: jax.Array, action: jax.Array, max_q: float | None = None
) -> jax.Array:
    """Q_i([s·(1 − d), d], a) for all heads, (num_qs, B), clipped to ±max_q if given; ``obs`` raw."""
    q = learner.critic.apply(params, absorbing_input(sac.normalize(learner, obs), done), action)
    return q if max_q is None else jnp.clip(q, -max_q, max_q)


def soft_value(
    learner: sac.State, obs: jax.Array, done: jax.Array, key: jax.Array, max_q: float | None = None
) -> jax.Array:
    """V̄(x) = min_i Q̄_i(x, a') − α log π(a'|s), a' ~ π(·|s), x = [s·(1 − d), d]."""
    action, logp = sac.policy(learner, obs).sample_and_log_prob(seed=key)
    return jnp.min(q_abs(learner, learner.target_params, obs, done, action, max_q), axis=0) - learner.alpha * logp


def td_loss(q: jax.Array, target: jax.Array, weight: jax.Array | None = None) -> jax.Array:
    """Σ_i ½ E [w (Q_i − y)²], y held fixed."""
    sq = jnp.square(q - jax.lax.stop_gradient(target)[None])
    if weight is not None:
        sq = sq * weight[None]
    return jnp.sum(0.5 * jnp.mean(sq, axis=1))


def contrastive_loss(q_expert: jax.Array, q_offline_policy: jax.Array) -> jax.Array:
    """L_cd = −mean_i (E_E Q_i(s, a_E) − E_T Q_i(s, ã))."""
    return -jnp.mean(jnp.mean(q_expert, axis=1) - jnp.mean(q_offline_policy, axis=1))


def expert_value_loss(q_expert: jax.Array, q_target: jax.Array | float) -> jax.Array:
    """L_qE = Σ_i ½ E_E (Q_i(s, a_E) − q̂)²."""
    return jnp.sum(0.5 * jnp.mean(jnp.square(q_expert - q_target), axis=1))


def floor_loss(q_offline_policy: jax.Array, q_target: jax.Array | float) -> jax.Array:
    """L_hinge = Σ_i ½ E_T max(−q̂ − Q_i(s, ã), 0)."""
    return jnp.sum(0.5 * jnp.mean(jax.nn.relu(-q_target - q_offline_policy), axis=1))


def critic_loss(critic_params, state: State, expert: Transition, offline: Transition, policy_action, targets, key):
    cfg, learner = state.config, state.learner
    both = concat(expert, offline)
    real = jnp.zeros(both.size, bool)
    y, y_abs = targets
    q_both = q_abs(learner, critic_params, both.obs, real, both.action)
    q_self = q_abs(learner, critic_params, both.obs, jnp.ones(both.size, bool), both.action)
    n_e = expert.size
    q_expert = q_both[:, :n_e]
    q_pi = q_abs(learner, critic_params, offline.obs, real[n_e:], policy_action)
    l_td = td_loss(q_both, y) + td_loss(q_self, y_abs, both.terminated.astype(jnp.float32))
    l_cd = contrastive_loss(q_expert, q_pi)
    l_qe = expert_value_loss(q_expert, cfg.q_expert_target)
    l_h = floor_loss(q_pi, cfg.q_expert_target)
    norm = lambda o: sac.normalize(learner, o)  # noqa: E731
    gp = sac.critic_gradient_penalty(
        learner, critic_params,
        jnp.concatenate([norm(expert.obs), expert.action], -1),
        jnp.concatenate([norm(offline.obs[:n_e]), policy_action[:n_e]], -1),
        key, target=cfg.gp_target, weight=cfg.gp_weight, absorbing=True,
    )
    loss = (1 - cfg.td_weight) * l_cd + cfg.td_weight * l_td + cfg.q_expert_weight * l_qe + cfg.hinge_weight * l_h + gp
    metrics = {"critic_loss": loss, "td_loss": l_td, "contrastive_loss": l_cd, "expert_value_loss": l_qe,
               "floor_loss": l_h, "grad_penalty": gp, "q_expert": jnp.mean(q_expert), "q_offline_policy": jnp.mean(q_pi)}
    return loss, metrics


def update(state: State, batch: tuple[Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """Critic, AWR actor, polyak on one (expert, offline) batch pair."""
    expert, offline = check_pair(batch, state.learner.spec, ("expert", "offline"))
    cfg, learner = state.config, state.learner
    key, k_pi, k_y, k_abs, k_gp, k_noise = jax.random.split(learner.key, 6)
    both = concat(expert, offline)
    # y = γ V̄([s'(1 − term), term]); the absorbing self-loop: y_abs = γ V̄(abs).
    y = cfg.gamma * soft_value(learner, both.next_obs, both.terminated, k_y)
    y_abs = cfg.gamma * soft_value(learner, both.next_obs, jnp.ones(both.size, bool), k_abs)
    policy_action = jax.lax.stop_gradient(sac.policy(learner, offline.obs).sample(seed=k_pi))
    learner, m_critic = sac.step_critic(learner, critic_loss, state, expert, offline, policy_action, (y, y_abs), k_gp)
    learner = learner.replace(key=key)
    # AWR on E ∪ T, noise on the T actions only; the critic reads real states (d = 0).
    noisy = awr.perturb_actions(k_noise, offline.action, cfg.action_noise, cfg.action_noise_fraction)
    actions = jnp.concatenate([expert.action, noisy])
    real = jnp.zeros(both.size, bool)
    q_fn = lambda o, a: q_abs(learner, learner.critic_params, o, real, a)  # noqa: E731
    learner, m_actor = awr.update_actor(learner, both.obs, actions, cfg.alpha, cfg.awr_max_weight, q_fn)
    return state.replace(learner=sac.update_target(learner)), m_critic | m_actor


def make_train(
    config: Config, expert: ExpertData, suboptimal: Transition, env: Env, reference: Reference | None = None
) -> Train:
    """``train(key)``: ``config.steps`` updates on expert and sub-optimal data. The
    offline set T is the sub-optimal transitions plus the expert's training split (as in
    the paper and CleanIL); observations are standardized with statistics of E ∪ T."""
    configs.check_type(config, Config, "recoil.make_train")
    mixed, obs_mean, obs_std = offline.with_suboptimal(expert, suboptimal, env, "RECOIL")
    if config.offline_batch < config.expert_batch:
        raise JaxilError("offline_batch must be at least expert_batch (the penalty pairs their rows).")

    def sample_batch(key: jax.Array) -> tuple[Transition, Transition]:
        k_e, k_t = jax.random.split(key)
        return sample(k_e, expert.train, config.expert_batch), sample(k_t, mixed, config.offline_batch)

    return offline.make_train(
        config, expert, env, reference,
        init=lambda key: init(key, config, env.spec, obs_mean, obs_std),
        update=update,
        policy=policy,
        sample_batch=sample_batch,
    )
