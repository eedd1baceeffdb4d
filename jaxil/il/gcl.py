"""Guided cost learning (Finn, Levine & Abbeel 2016): sample-based maximum-entropy IRL
with the policy as the sampler, env inside the compiled loop.

A cost c_θ(s, a) models the demonstrations as Boltzmann-distributed, p(x) ∝ exp(−c_θ(x)).
Its partition function is estimated by importance sampling over the policy's own samples
mixed with the demonstrations, x_j ∼ q, so the IOC objective is

    L_IOC(θ) = E_demo[c_θ(x)] + log Ẑ,    Ẑ = (1/M) Σ_j exp(−c_θ(x_j)) / q(x_j),

per step x = (s, a), with q(x) = π(a|s), the density of the policy that just collected the
samples; the demonstrations' density is taken from the policy too. Keeping demonstrations in
the sum is what stops the loss from falling without bound by lowering their cost alone: every
exp(−c) it lowers c for also enters Ẑ. The policy (PPO or A2C) is trained on the reward −c_θ
after each round of cost updates.

The paper's two cost regularizers are options, on whole fragments of consecutive steps
(``fragment_length`` > 1): local constant rate (``lcr_coef``) on every fragment,
Σ_t [(c_{t+1} − c_t) − (c_t − c_{t−1})]², and monotonicity (``mono_coef``) on the
demonstrations', Σ_t max(0, c_t − c_{t−1} − 1)², which asks the cost to fall along them.

GCL is an adversarial learner in jaxil's sense (Finn et al. 2016b: GCL is a GAN whose
discriminator is D = exp(−c)/(exp(−c) + q)): the loop, relabeling and generators are
:mod:`jaxil.il.adversarial`'s, and this file holds the cost and its losses.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import adversarial
from jaxil.il.adversarial import Discriminator
from jaxil.loop import Train
from jaxil.losses import l2_penalty
from jaxil.nets import RewardModel, action_features
from jaxil.types import RewardFn, Transition

policy = adversarial.policy  # π(·|s) of the policy being guided


@struct.dataclass
class Config(adversarial.Config):
    """GCL. Float fields may be arrays (a sweep is a vmap over configs). The cost net is the
    ``disc_*`` net; defaults follow ilpyt's GCL (cost updates of 128 rows, cost lr 1e-3)
    with PPO on short rollouts (8 envs × 32 steps: many cost rounds)."""

    generator: str = static("ppo")
    """the policy optimizer: "ppo" or "a2c" (on-policy: q must be the sampling policy)."""
    expert_batch: int = static(128)
    """demonstration rows (and as many policy samples) per cost update."""
    disc_updates: int = static(40)
    """cost updates per rollout (ilpyt's 10 left 2 of 4 cartpole seeds near random after 41k
    env steps, where 40 brings all 4 to the expert: measured while writing this)."""
    gp_weight: float = 0.0
    """weight of a gradient penalty on the cost (0: none, as the paper)."""
    lcr_coef: float = 0.0
    """weight of the local-constant-rate regularizer (with fragment_length ≥ 3)."""
    mono_coef: float = 0.0
    """weight of the monotonicity regularizer on demonstrations (with fragment_length ≥ 3)."""
    fragment_length: int = static(1)
    """1: cost updates on independent rows, no regularizers; L ≥ 3: on whole fragments of L
    consecutive steps, with the regularizers (weights lcr_coef, mono_coef)."""
    hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the policy's actor and critic."""
    activation: str = static("tanh")
    """activation of the policy's nets."""
    disc_hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the cost net."""
    disc_activation: str = static("relu")
    """activation of the cost net."""
    disc_lr: float = 1e-3
    """cost net Adam learning rate (ilpyt's)."""
    num_envs: int = static(8)
    """parallel environments."""
    rollout_steps: int = static(32)
    """steps per env per rollout (a round of cost updates each)."""
    num_epochs: int = static(4)
    """PPO passes over each rollout."""
    ppo_lr: float = 1e-3
    """the policy's learning rate."""
    steps: int = static(8 * 32 * 400)
    """total environment steps (a multiple of num_envs · rollout_steps)."""
    eval_every: int = static(8 * 32 * 80)
    """environment steps between evaluations."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.generator == "sac":
            raise JaxilError("GCL's importance weights need the density of the policy that drew the samples: "
                             "use an on-policy generator, --generator ppo or a2c.")
        if self.fragment_length == 2 or self.fragment_length < 1:
            raise JaxilError(f"fragment_length must be 1 (no regularizers) or ≥ 3 (the regularizers' second "
                             f"differences), got {self.fragment_length}.")
        if self.expert_batch % self.fragment_length:
            raise JaxilError(f"expert_batch ({self.expert_batch}) must be a multiple of fragment_length "
                             f"({self.fragment_length}): the regularizers see whole fragments.")
        weights = [configs.known_values(w) for w in (self.lcr_coef, self.mono_coef)]
        if self.fragment_length == 1 and any(w is not None and np.any(w != 0) for w in weights):
            raise JaxilError("the regularizers look along fragments: pass --fragment-length L (≥ 3) with "
                             "--lcr-coef or --mono-coef.")

    @property
    def regularized(self) -> bool:
        return self.fragment_length > 1


def cost_net(config: Config) -> RewardModel:
    return RewardModel(config.disc_hidden, config.disc_activation)


def cost(params, state: adversarial.State, obs: jax.Array, action: jax.Array) -> jax.Array:
    """c_θ(s, a), shape (B,)."""
    return cost_net(state.config).apply(params, obs, action_features(action, state.generator.spec.num_actions))


def importance_log_weights(c: jax.Array, log_q: jax.Array) -> jax.Array:
    """log w_j = −c_j − log q(x_j), the log-terms of Ẑ's sum (normalized weights are their
    softmax)."""
    return -c - log_q


def ioc_loss(c_demo: jax.Array, c_samples: jax.Array, log_q: jax.Array) -> jax.Array:
    """E_demo[c] + log (1/M) Σ_j exp(−c_j) / q(x_j), the sum taken in log space."""
    m = c_samples.shape[0]
    return jnp.mean(c_demo) + jax.nn.logsumexp(importance_log_weights(c_samples, log_q)) - jnp.log(m)


def lcr_penalty(c: jax.Array) -> jax.Array:
    """Σ_t [(c_{t+1} − c_t) − (c_t − c_{t−1})]² along each fragment (F, L), averaged over
    fragments: a cost whose rate of change is locally constant."""
    return jnp.mean(jnp.sum(jnp.square(c[:, 2:] - 2.0 * c[:, 1:-1] + c[:, :-2]), axis=1))


def mono_penalty(c: jax.Array) -> jax.Array:
    """Σ_t max(0, c_t − c_{t−1} − 1)² along each fragment (F, L), averaged over fragments:
    a cost that falls (by at least one unit per step, or pays) along demonstrations."""
    return jnp.mean(jnp.sum(jnp.square(jnp.maximum(0.0, c[:, 1:] - c[:, :-1] - 1.0)), axis=1))


def cost_loss(params, state: adversarial.State, expert: Transition, fake: Transition, key: jax.Array, *,
              regularized: bool = False, penalize_gradient: bool = False):
    """L_IOC on demonstration rows against the mixture of policy samples and those rows
    (q = π(a|s) for both), plus (the Config's static choices, fixed when the loss is built)
    the regularizers on fragments, a gradient penalty, and the l2 term."""
    cfg: Config = state.config
    c_demo = cost(params, state, expert.obs, expert.action)
    c_fake = cost(params, state, fake.obs, fake.action)
    samples = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), fake, expert)
    log_q = policy(state, samples.obs).log_prob(samples.action)  # the policy's parameters are not θ
    c_samples = jnp.concatenate([c_fake, c_demo])
    loss = ioc_loss(c_demo, c_samples, log_q)
    metrics = {"ioc_loss": loss, "cost_expert": jnp.mean(c_demo), "cost_policy": jnp.mean(c_fake),
               "ess": ess(importance_log_weights(c_samples, log_q))}
    if regularized:
        frags = lambda c: c.reshape(-1, cfg.fragment_length)  # noqa: E731
        lcr = lcr_penalty(jnp.concatenate([frags(c_demo), frags(c_fake)]))
        mono = mono_penalty(frags(c_demo))
        loss = loss + cfg.lcr_coef * lcr + cfg.mono_coef * mono
        metrics |= {"lcr": lcr, "mono": mono}
    if penalize_gradient:
        loss = loss + adversarial.input_penalty(lambda o, a, d: cost(params, state, o, a), expert, fake, key, cfg,
                                                state.generator.spec.num_actions)
    if not is_static_zero(cfg.l2_weight):
        loss = loss + cfg.l2_weight * l2_penalty(params)
    return loss, metrics


def ess(log_w: jax.Array) -> jax.Array:
    """The effective sample size of self-normalized importance weights, (Σw)²/Σw², as a
    fraction of the samples: near 0 when a few samples carry Ẑ."""
    w = jax.nn.softmax(log_w)
    return 1.0 / (jnp.sum(jnp.square(w)) * w.shape[0])


def reward(params, state: adversarial.State, batch: Transition) -> jax.Array:
    """r = −c_θ(s, a): what the policy maximizes."""
    return -cost(params, state, batch.obs, batch.action)


def discriminator(config: Config) -> Discriminator:
    net = cost_net(config)
    loss = functools.partial(cost_loss, regularized=config.regularized,
                             penalize_gradient=not is_static_zero(config.gp_weight))
    return Discriminator(lambda key, o, a, o2, d: net.init(key, o, a), loss, reward,
                         fragment=config.fragment_length if config.regularized else 1)


def init(key: jax.Array, config: Config, spec: EnvSpec) -> adversarial.State:
    configs.check_type(config, Config, "gcl.init")
    return adversarial.init(key, config, spec, discriminator(config))


def update(state: adversarial.State, batch: tuple) -> tuple[adversarial.State, dict]:
    """``disc_updates`` cost updates on ``batch = (expert, rollout)`` (expert rows and a
    rollout of the current policy), then the policy on the rollout's rewards −c_θ."""
    return adversarial.update(state, discriminator(state.config), batch)


def learned_reward(state: adversarial.State) -> RewardFn:
    """−c_θ(s, a) as a standalone ``reward_fn(obs, action, next_obs, terminated)``."""
    return adversarial.learned_reward(state, discriminator(state.config))


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of GCL on ``env``
    against the demonstrations ``data``."""
    configs.check_type(config, Config, "gcl.make_train")
    return adversarial.make_train(config, discriminator(config), data, env, reference, "GCL")
