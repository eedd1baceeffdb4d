"""Implicit behavioral cloning (Florence et al. 2021), as CleanIL runs it.

An energy E(s, a) (here a reward-like score: higher is more expert-like) is trained
with InfoNCE to pick the expert action among negatives at the same state; the policy
is then a SAC actor that maximizes the energy, instead of IBC's derivative-free or
Langevin sampling. With ã ~ π(·|s) (no gradient) and u_k ~ U(min_b a_E, max_b a_E) per
action dimension over the batch, the K + 1 candidates are c = (a_E, ã, u_1, …, u_K):

    InfoNCE:  L_nce = −E_s [ E(s, a_E) − log Σ_j exp E(s, c_j) ]
    penalty:  GP    = margin penalty on ‖∇_[s,a] E‖_∞ above 1 at interpolates of
                      [s, a_E] and [s, c_j], j ≥ 1
    energy:   L_E   = L_nce + λ_gp GP
    actor:    L_π   = E_s [ α log π(ã|s) − E(s, ã) ],  ã ~ π(·|s), α learned

E is clipped to ±``max_energy`` wherever it is used. One update: actor (and
temperature), then energy (CleanIL's order). The energy is a one-head critic of a SAC
learner, so SAC's actor and temperature steps are reused as they are.

As CleanIL's seed blog notes, the negatives vary only actions at expert states, so the
energy cannot rank actions at states the expert never visited: expect BC-like results.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.rl import sac
from jaxil.types import Transition, check_batch


@struct.dataclass
class Config(offline.Config):
    """IBC (SAC-actor variant). Float fields may be arrays (a sweep is a vmap over configs).
    Defaults follow CleanIL's benchmark configs."""

    actor_lr: float = 3e-4
    """actor (and temperature) Adam learning rate."""
    energy_lr: float = 3e-4
    """energy Adam learning rate."""
    init_alpha: float = 0.2
    """initial temperature α (learned towards entropy −act_dim)."""
    gp_weight: float = 10.0
    """λ_gp: weight of the gradient penalty."""
    gp_target: float = 1.0
    """gradient ∞-norm above which the penalty applies (CleanIL's 1 suits actions in
    [-1, 1]; wider action boxes need a larger bound, e.g. 10 on pendulum)."""
    max_energy: float = 100.0
    """clip of the energy's output."""
    uniform_negatives: int = static(3)
    """K: uniformly random negative actions per state (plus one from the actor)."""
    batch_size: int = static(256)
    """expert transitions per update."""

    def sac_config(self) -> sac.Config:
        """The SAC learner that holds the actor, temperature and (as its one critic) the energy."""
        return sac.Config(
            actor_lr=self.actor_lr, critic_lr=self.energy_lr, alpha_lr=self.actor_lr, init_alpha=self.init_alpha,
            hidden=self.hidden, activation=self.activation, num_qs=1, batch_size=self.batch_size,
        )


@struct.dataclass
class State:
    learner: sac.State  # its single critic is the energy E(s, a)
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "ibc.init")
    return State(sac.init(key, config.sac_config(), spec, obs_mean, obs_std), config)


policy = offline.learner_policy  # π(·|s) of the SAC learner inside


def energy(state: State, params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """E(s, a) on raw observations, clipped; shape (B,)."""
    e = sac.q_values(state.learner, params, obs, action)[0]
    return jnp.clip(e, -state.config.max_energy, state.config.max_energy)


def info_nce_loss(energies: jax.Array) -> jax.Array:
    """−mean_b [E_b0 − logsumexp_j E_bj] for energies (B, 1 + negatives), the
    positive (expert) candidate in column 0."""
    return -jnp.mean(energies[:, 0] - jax.nn.logsumexp(energies, axis=1))


def negative_actions(state: State, obs: jax.Array, expert_action: jax.Array, key: jax.Array) -> jax.Array:
    """(B, 1 + K, act_dim): one actor sample, then K uniform draws in the batch's action box."""
    k_pi, k_u = jax.random.split(key)
    pi = jax.lax.stop_gradient(sac.policy(state.learner, obs).sample(seed=k_pi))
    lo, hi = jnp.min(expert_action, axis=0), jnp.max(expert_action, axis=0)
    shape = (obs.shape[0], state.config.uniform_negatives, expert_action.shape[-1])
    uniform = jax.random.uniform(k_u, shape, minval=lo, maxval=hi)
    return jnp.concatenate([pi[:, None], uniform], axis=1)


def energy_loss(params, state: State, batch: Transition, negatives: jax.Array, key: jax.Array):
    """L_E = L_nce + λ_gp GP on one expert batch with its negatives (B, N, act_dim)."""
    cfg, learner = state.config, state.learner
    b, n = negatives.shape[:2]
    candidates = jnp.concatenate([batch.action[:, None], negatives], axis=1)  # (B, 1 + N, A)
    obs = jnp.repeat(batch.obs[:, None], n + 1, axis=1)
    e = energy(state, params, obs.reshape(b * (n + 1), -1), candidates.reshape(b * (n + 1), -1)).reshape(b, n + 1)
    l_nce = info_nce_loss(e)
    # The penalty is on gradients w.r.t. normalized observations (the energy's inputs).
    s = jnp.repeat(sac.normalize(learner, batch.obs), n, axis=0)
    gp = sac.critic_gradient_penalty(
        learner, params,
        jnp.concatenate([s, jnp.repeat(batch.action, n, axis=0)], -1),
        jnp.concatenate([s, negatives.reshape(b * n, -1)], -1),
        key, target=cfg.gp_target, weight=cfg.gp_weight, max_q=cfg.max_energy,
    )
    loss = l_nce + gp
    metrics = {"energy_loss": loss, "nce_loss": l_nce, "grad_penalty": gp, "energy_expert": jnp.mean(e[:, 0]),
               "energy_actor": jnp.mean(e[:, 1])}
    if n > 1:  # uniform negatives exist
        metrics["energy_uniform"] = jnp.mean(e[:, 2:])
    return loss, metrics


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """Actor and temperature on the energy, then the energy; all on one expert batch."""
    check_batch(batch, state.learner.spec)
    learner = state.learner
    key, k_neg, k_gp = jax.random.split(learner.key, 3)
    learner = learner.replace(key=key)
    learner, m_actor = sac.update_actor(
        learner, batch.obs, lambda o, a: energy(state, learner.critic_params, o, a)
    )
    learner, m_alpha = sac.update_temperature(learner, m_actor["log_prob"])
    state = state.replace(learner=learner)
    negatives = negative_actions(state, batch.obs, batch.action, k_neg)
    learner, m_energy = sac.step_critic(learner, energy_loss, state, batch, negatives, k_gp)
    return state.replace(learner=learner.replace(step=learner.step + 1)), m_actor | m_alpha | m_energy


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates on expert ``data``,
    evaluated on ``env`` every ``config.eval_every`` updates."""
    configs.check_type(config, Config, "ibc.make_train")
    offline.check_expert_data(data, env, "IBC", continuous=True)
    return offline.make_train(
        config, data, env, reference,
        init=lambda key: init(key, config, env.spec, data.obs_mean, data.obs_std),
        update=update,
        policy=policy,
    )
