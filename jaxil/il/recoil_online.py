"""RECOIL-online: RECOIL's implicit-reward critic learned while acting (CleanIL's online
variant, "similar to online IQ-Learn"). No reward model: the critic itself separates
expert actions from the policy's, and a SAC actor climbs it. E is an expert batch, R a
replay batch, ã ~ π(·|s) without gradient, x = [s·(1 − d), d] the absorbing-state input:

    TD:           L_td  = Σ_i ½ E_{E∪R} (Q_i(x, a) − y)²,   y = γ V̄(x'),  no reward
    IBC:          L_ibc = −mean_i (E_E Q_i(s, a_E) − E_E Q_i(s, ã))
    contrastive:  L_cd  = −mean_i (E_{E⁺} Q_i(s, a_E) − E_{R⁺} Q_i(s, ã))
    penalty:      GP    = margin penalty on ‖∇_[s,a] Q_i‖_∞ above g, at the points
                          [s_E, a_E] and [s_R, ã] themselves (no interpolation)
    critic:       L_Q = (1 − τ_td)(λ_ibc L_ibc + (1 − λ_ibc) L_cd) + τ_td L_td + λ_gp GP
    actor:        SAC's, on E ∪ R states with d = 0, α fixed

E⁺ and R⁺ are the visited states plus the absorbing state once per terminal transition
(DAC's absorbing states, :func:`with_absorbing`). This is what makes falling cost something:
an expert that never falls never raises Q(abs, ·) while every fall of the policy lowers it.
CleanIL gets the same push by feeding each row's termination flag into its contrastive
terms, which evaluates the pre-terminal row itself as absorbing; without either, the
absorbing value only follows its own TD self-loop and the policy learns to fall (we
measured this on hopper). Every Q is clipped to ±``max_q``; the critic starts at Q ≡ 0
(CleanIL's zeroed last layer). Observations are standardized with the expert's
statistics. As in offline RECOIL (:mod:`jaxil.il.recoil`, whose critic pieces are
reused), termination flags are each transition's own and the absorbing self-loop
Q(abs, a) → γ V̄(abs) is trained on terminal transitions; CleanIL's version as pushed
also passes one argument too many to its actor loss (cleanil.md §8.1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data import replay
from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil.il.recoil import contrastive_loss, q_abs, soft_value, td_loss
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.rl import offpolicy, sac
from jaxil.types import Transition, check_pair, concat


@struct.dataclass
class Config(offpolicy.LoopConfig):
    """RECOIL-online. Float fields may be arrays. Defaults follow CleanIL (hopper's τ_td).
    The loop's sizes come from :class:`offpolicy.LoopConfig`."""

    actor_lr: float = 3e-4
    """actor Adam learning rate."""
    critic_lr: float = 3e-4
    """critic Adam learning rate."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """polyak rate of the target critic."""
    alpha: float = 0.1
    """fixed SAC temperature."""
    td_weight: float = 0.5
    """τ_td (CleanIL: 0.5 on hopper, 0.2 on halfcheetah and walker2d)."""
    ibc_weight: float = 0.1
    """λ_ibc: share of the expert-state (IBC) term in the contrastive part."""
    gp_weight: float = 10.0
    """λ_gp."""
    gp_target: float = 200.0
    """gradient ∞-norm above which the penalty applies."""
    max_q: float = 1000.0
    """clip of every Q output."""
    critic_zero_init: bool = static(True)
    """start the critic at Q ≡ 0 (CleanIL)."""
    hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of actor and critic MLPs."""
    activation: str = static("silu")
    """activation of actor and critic MLPs."""
    expert_batch: int = static(128)
    """expert rows per update."""
    replay_batch: int = static(128)
    """replay rows per update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        offpolicy.check_config(self, max(self.expert_batch, self.replay_batch))

    def sac_config(self) -> sac.Config:
        return sac.Config(
            actor_lr=self.actor_lr, critic_lr=self.critic_lr, gamma=self.gamma, tau=self.tau,
            init_alpha=self.alpha, hidden=self.hidden, activation=self.activation, learn_alpha=False,
            critic_zero_init=self.critic_zero_init,
            batch_size=self.expert_batch + self.replay_batch, **self.loop_fields(),
        )


@struct.dataclass
class State:
    learner: sac.State  # its critic reads [normalized s·(1 − d), d]
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "recoil_online.init")
    return State(sac.init(key, config.sac_config(), spec, obs_mean, obs_std, critic_extra_inputs=1), config)


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def with_absorbing(q_states: jax.Array, q_absorbing: jax.Array, terminated: jax.Array) -> jax.Array:
    """Per-head E over B visited states and the absorbing state once per terminal row:
    (Σ_b Q_i(s_b) + Σ_b d_b Q_i(abs)) / (B + Σ_b d_b), shape (num_qs, 1)."""
    d = terminated.astype(q_states.dtype)
    total = jnp.sum(q_states, axis=1) + jnp.sum(d[None] * q_absorbing, axis=1)
    return (total / (q_states.shape[1] + jnp.sum(d)))[:, None]


def critic_loss(critic_params, state: State, expert: Transition, agent: Transition, policy_action, targets):
    """L_Q on expert rows E and replay rows R; ``policy_action`` is ã at E's then R's states."""
    cfg, learner = state.config, state.learner
    both = concat(expert, agent)
    n, n_e = both.size, expert.size
    real = jnp.zeros(n, bool)
    y, y_abs = targets
    q_both = q_abs(learner, critic_params, both.obs, real, both.action, cfg.max_q)
    q_self = q_abs(learner, critic_params, both.obs, jnp.ones(n, bool), both.action, cfg.max_q)
    q_pi = q_abs(learner, critic_params, both.obs, real, policy_action, cfg.max_q)
    q_pi_abs = q_abs(learner, critic_params, agent.obs, jnp.ones(agent.size, bool), policy_action[n_e:], cfg.max_q)
    q_expert = q_both[:, :n_e]
    l_td = td_loss(q_both, y) + td_loss(q_self, y_abs, both.terminated.astype(jnp.float32))
    l_ibc = contrastive_loss(q_expert, q_pi[:, :n_e])
    l_cd = contrastive_loss(
        with_absorbing(q_expert, q_self[:, :n_e], expert.terminated),
        with_absorbing(q_pi[:, n_e:], q_pi_abs, agent.terminated),
    )
    points = jnp.concatenate(
        [sac.normalize(learner, both.obs), jnp.concatenate([expert.action, policy_action[n_e:]])], -1
    )
    gp = sac.critic_gradient_penalty(
        learner, critic_params, points, target=cfg.gp_target, weight=cfg.gp_weight, absorbing=True, max_q=cfg.max_q
    )
    contrast = cfg.ibc_weight * l_ibc + (1 - cfg.ibc_weight) * l_cd
    loss = (1 - cfg.td_weight) * contrast + cfg.td_weight * l_td + gp
    metrics = {"critic_loss": loss, "td_loss": l_td, "ibc_loss": l_ibc, "contrastive_loss": l_cd,
               "grad_penalty": gp, "q_expert": jnp.mean(q_expert), "q_policy": jnp.mean(q_pi)}
    return loss, metrics


def update(state: State, batch: tuple[Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """Critic, SAC actor (α fixed), polyak on one (expert, replay) batch pair."""
    expert, agent = check_pair(batch, state.learner.spec, ("expert", "replay"))
    cfg, learner = state.config, state.learner
    key, k_pi, k_y, k_abs = jax.random.split(learner.key, 4)
    both = concat(expert, agent)
    # y = γ V̄([s'(1 − term), term]); the absorbing self-loop: y_abs = γ V̄(abs).
    y = cfg.gamma * soft_value(learner, both.next_obs, both.terminated, k_y, cfg.max_q)
    y_abs = cfg.gamma * soft_value(learner, both.next_obs, jnp.ones(both.size, bool), k_abs, cfg.max_q)
    policy_action = jax.lax.stop_gradient(sac.policy(learner, both.obs).sample(seed=k_pi))
    learner, m_critic = sac.step_critic(learner, critic_loss, state, expert, agent, policy_action, (y, y_abs))
    real = jnp.zeros(both.size, bool)
    learner, m_actor = sac.update_actor(
        learner.replace(key=key), both.obs, lambda o, a: q_abs(learner, learner.critic_params, o, real, a, cfg.max_q)
    )
    return state.replace(learner=sac.update_target(learner)), m_critic | m_actor


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of RECOIL-online."""
    configs.check_type(config, Config, "recoil_online.make_train")
    offline.check_expert_data(data, env, "RECOIL-online", continuous=True)
    loop_config = config.sac_config()

    def learn(state: State, buffer: replay.ReplayBuffer, key: jax.Array):
        k_e, k_r = jax.random.split(key)
        return update(state, (sample(k_e, data.train, config.expert_batch),
                              replay.sample(k_r, buffer, config.replay_batch)))

    return offpolicy.make_train(
        loop_config, env, init_learner=lambda key: init(key, config, env.spec, data.obs_mean, data.obs_std),
        learn=learn, policy_fn=policy, reference=reference, heldout=data.heldout,
    )
