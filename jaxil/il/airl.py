"""Adversarial inverse reinforcement learning (Fu, Luo & Levine 2018).

The discriminator is structured so that a reward can be read out of it:

    f(s, a, s') = g(s) + γ (1 − term) h(s') − h(s)        (shaped reward, potential h)
    D(s, a, s') = exp f / (exp f + π(a|s)),  so  logit D = f − log π(a|s)
    L_D = E_E[softplus(−(f − log π))] + E_π[softplus(f − log π)]   (expert label 1)

with log π from the current generator (no gradient into it). The generator's reward is
the paper's log D − log(1 − D) = f − log π: entropy-regularized RL on f. SAC adds that
entropy term itself (its temperature), so the SAC generator gets f alone (imitation's
choice); PPO has no such term, so it gets f − log π — on f alone its policy narrows, −log π
on its own actions grows, and the discriminator wins on log π without learning f.

With a state-only g, at optimum g recovers the expert's reward up to a constant and h the
value function up to shaping, so g(s) alone is the transferable reward: ``learned_reward``
returns it and ``jaxil reward-transfer`` trains a fresh agent on it. A terminal transition has no successor, so h(s') is dropped there.

The loop and both generators (SAC by default, PPO) are :mod:`jaxil.il.adversarial`'s.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.evaluation import Reference
from jaxil.il import adversarial
from jaxil.il.adversarial import Discriminator, input_penalty, policy
from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.loop import Train
from jaxil.losses import l2_penalty
from jaxil.nets import MLP, RewardModel, action_features
from jaxil.types import RewardFn, Transition, transition


@struct.dataclass
class Config(adversarial.Config):
    """AIRL. Float fields may be arrays (a sweep is a vmap over configs)."""

    gp_weight: float = 0.0
    """weight of a gradient penalty on f (AIRL uses none)."""
    l2_weight: float = 0.0
    """weight of ½ Σθ² on the discriminator (g and h)."""
    state_only: bool = static(True)
    """g(s) instead of g(s, a): the disentangled reward that transfers to new dynamics."""


class ShapedReward(nn.Module):
    """``(f, g)`` for a batch: the shaped reward and its reward term g."""

    hidden: tuple[int, ...]
    activation: str
    state_only: bool

    def setup(self) -> None:
        self.g = RewardModel(self.hidden, self.activation, state_only=self.state_only)
        self.h = MLP(self.hidden, 1, self.activation)

    def __call__(self, obs, action, next_obs, terminated, gamma):
        g = self.g(obs, action)
        h, h_next = self.h(obs)[..., 0], self.h(next_obs)[..., 0]
        f = g + gamma * (1.0 - terminated.astype(g.dtype)) * h_next - h
        return f, g


def net(config: Config) -> ShapedReward:
    return ShapedReward(config.disc_hidden, config.disc_activation, config.state_only)


def shaped(state: adversarial.State, params, batch: Transition) -> tuple[jax.Array, jax.Array]:
    """(f, g) on ``batch``; shapes (B,)."""
    action = action_features(batch.action, state.generator.spec.num_actions)
    return net(state.config).apply(params, batch.obs, action, batch.next_obs, batch.terminated, state.config.gamma)


def logits(state: adversarial.State, params, batch: Transition) -> jax.Array:
    """f − log π(a|s), with π the current generator (held fixed)."""
    log_pi = policy(state, batch.obs).log_prob(batch.action)
    return shaped(state, params, batch)[0] - jax.lax.stop_gradient(log_pi)


def airl_loss(logit_expert: jax.Array, logit_fake: jax.Array) -> jax.Array:
    """E_E[softplus(−logit)] + E_π[softplus(logit)]: logistic regression, expert label 1."""
    return jnp.mean(jax.nn.softplus(-logit_expert)) + jnp.mean(jax.nn.softplus(logit_fake))


def discriminator_loss(params, state: adversarial.State, expert: Transition, fake: Transition, key: jax.Array):
    cfg: Config = state.config
    l_e, l_f = logits(state, params, expert), logits(state, params, fake)
    loss = airl_loss(l_e, l_f)
    metrics = {"disc_loss": loss, "disc_expert": jnp.mean(l_e), "disc_fake": jnp.mean(l_f),
               "disc_accuracy": 0.5 * (jnp.mean(l_e > 0) + jnp.mean(l_f < 0))}
    if not is_static_zero(cfg.gp_weight):
        # the penalty sees f at (s, a) with s' = s: a smoothness prior on g + (γ − 1) h
        def f_sa(o, a, d):
            return shaped(state, params, Transition(o, a, jnp.zeros(o.shape[0]), o, d > 0.5, d > 0.5))[0]

        gp = input_penalty(f_sa, expert, fake, key, cfg, state.generator.spec.num_actions)
        loss, metrics = loss + gp, metrics | {"grad_penalty": gp}
    if not is_static_zero(cfg.l2_weight):
        loss = loss + cfg.l2_weight * l2_penalty(params)
    return loss, metrics


def reward(params, state: adversarial.State, batch: Transition) -> jax.Array:
    """The generator's reward: f(s, a, s') for a maximum-entropy solver (SAC), which adds
    the entropy term itself; f − log π(a|s) for PPO."""
    if adversarial.generator(state.config).MAXIMUM_ENTROPY:
        return shaped(state, params, batch)[0]
    return logits(state, params, batch)


def learned_reward(state: adversarial.State) -> RewardFn:
    """The transferable reward g(s) (or g(s, a)): unshaped, no policy term, as a standalone
    ``reward_fn(obs, action, next_obs, terminated)``."""
    return lambda obs, action, next_obs, terminated: shaped(
        state, state.disc_params, transition(obs, action, next_obs, terminated)
    )[1]


def discriminator(config: Config) -> Discriminator:
    model = net(config)
    return Discriminator(
        lambda key, o, a, o2, d: model.init(key, o, a, o2, d, config.gamma), discriminator_loss, reward
    )


def init(key: jax.Array, config: Config, spec: EnvSpec) -> adversarial.State:
    configs.check_type(config, Config, "airl.init")
    return adversarial.init(key, config, spec, discriminator(config))


def update(state: adversarial.State, batch: tuple) -> tuple[adversarial.State, dict]:
    """:func:`jaxil.il.adversarial.update` with AIRL's discriminator: ``batch`` is
    ``(expert, generator, policy_batch)`` rows with SAC, ``(expert, rollout)`` with PPO."""
    return adversarial.update(state, discriminator(state.config), batch)


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of AIRL on ``env``
    against the expert ``data``."""
    configs.check_type(config, Config, "airl.make_train")
    return adversarial.make_train(config, discriminator(config), data, env, reference, "AIRL")

