"""Generative adversarial imitation learning, in its two standard forms.

A discriminator D(s, a[, d]) scores transitions, high for the expert's; the generator
is an RL agent whose reward is D's score of its own transitions. The loop, relabeling
and both generators live in :mod:`jaxil.il.adversarial`; this file holds the losses.

* **Off-policy** (``generator="sac"``; Kostrikov et al. 2019 (DAC), as CleanIL runs it):
  a Wasserstein critic, reward r = D(s, a, d) clipped to ±``max_reward``, trained on
  expert rows against the whole replay buffer:

      L_D = −(E_E[D] − E_R[D]) + λ_gp E_x̂[max(‖∇D(x̂)‖_∞ − 1, 0)²] + λ_2 ½‖θ‖²

  with x̂ interpolating expert and replay inputs [s, a, d]. With ``use_done`` the net sees
  the absorbing-state input [(1 − d)·[s, a], d], d = terminated, so the reward of ending an
  episode is learned too (DAC's point: a fixed-sign reward otherwise biases the agent to
  end or prolong episodes). The episode then stays in the absorbing state, paying that
  reward r_abs forever, so SAC's TD target of a terminal transition is its closed form
  r_abs/(1 − γ) (``sac.Config.absorbing_terminal``), where DAC adds absorbing transitions to
  the buffer. (The PPO generator below also learns r_abs with ``use_done``, but its
  advantages stop at the terminal step.) CleanIL stops the target at r_abs (its ``closed_form_terminal`` is off), so
  falling costs one step's reward: against a critic that scores the agent's live states
  below zero, ending the episode pays, and its walker learns to fall within a few steps
  (``experiments/results/README.md``).

* **On-policy** (``generator="ppo"``; Ho & Ermon 2016, imitation's form): a logistic
  discriminator with logit D, expert label 1:

      L_D = E_E[softplus(−D)] + E_π[softplus(D)]  (+ the same penalty and l2 terms),
      r = −log(1 − σ(D)) = softplus(D)   (or ``reward_form`` log σ(D), or D).

``loss`` picks the discriminator ("auto": Wasserstein with SAC, logistic with PPO).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import adversarial
from jaxil.il.adversarial import Discriminator, input_penalty
from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.loop import Train
from jaxil.losses import l2_penalty
from jaxil.nets import RewardModel, action_features
from jaxil.rl import ppo, sac
from jaxil.types import RewardFn, Transition

LOSSES = ("auto", "wasserstein", "logistic")
REWARD_FORMS = {  # the logistic discriminator's logit D -> the generator's reward
    "softplus": jax.nn.softplus,  # −log(1 − σ(D))
    "log_sigmoid": jax.nn.log_sigmoid,  # log σ(D)
    "logit": lambda d: d,  # log σ(D) − log(1 − σ(D))
}
policy = adversarial.policy  # π(·|s) of the generator


@struct.dataclass
class Config(adversarial.Config):
    """GAIL. Float fields may be arrays (a sweep is a vmap over configs). Defaults follow
    CleanIL's GAIL on MuJoCo (SAC generator, Wasserstein critic)."""

    loss: str = static("auto")
    """"wasserstein", "logistic", or "auto" (Wasserstein with sac, logistic with ppo)."""
    max_reward: float = 10.0
    """clip of the Wasserstein critic's output (the reward) to ±max_reward."""
    use_done: bool = static(True)
    """absorbing-state input: terminal transitions map to one learned input (DAC)."""
    reward_form: str = static("softplus")
    """the logistic discriminator's reward: "softplus" −log(1 − σ(D)) ≥ 0 (Ho & Ermon, imitation's),
    "log_sigmoid" log σ(D) ≤ 0, or "logit" D (their sum). A reward of one sign biases episodes
    that the agent can end: ≥ 0 pays for prolonging them, ≤ 0 for ending them (Kostrikov et al.
    2019)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise JaxilError(f"loss must be one of {LOSSES}, got {self.loss!r}.")
        if self.reward_form not in REWARD_FORMS:
            raise JaxilError(f"reward_form must be one of {tuple(REWARD_FORMS)} (--reward-form), got {self.reward_form!r}.")

    def generator_config(self) -> sac.Config | ppo.Config:
        config = super().generator_config()
        if self.use_done and self.generator == "sac":
            return config.replace(absorbing_terminal=True)
        return config

    @property
    def wasserstein(self) -> bool:
        return self.loss == "wasserstein" or (self.loss == "auto" and self.generator == "sac")


def discriminator_net(config: Config) -> RewardModel:
    return RewardModel(config.disc_hidden, config.disc_activation, use_done=config.use_done)


def score(state: adversarial.State, params, obs: jax.Array, action: jax.Array, done: jax.Array) -> jax.Array:
    """D(s, a, d), clipped to ±max_reward for the Wasserstein critic; shape (B,)."""
    cfg: Config = state.config
    d = discriminator_net(cfg).apply(params, obs, action_features(action, state.generator.spec.num_actions), done)
    return jnp.clip(d, -cfg.max_reward, cfg.max_reward) if cfg.wasserstein else d


def wasserstein_loss(d_expert: jax.Array, d_fake: jax.Array) -> jax.Array:
    """−(E_E[D] − E_R[D])."""
    return -(jnp.mean(d_expert) - jnp.mean(d_fake))


def logistic_loss(d_expert: jax.Array, d_fake: jax.Array) -> jax.Array:
    """E_E[−log σ(D)] + E_π[−log(1 − σ(D))] = E_E[softplus(−D)] + E_π[softplus(D)]."""
    return jnp.mean(jax.nn.softplus(-d_expert)) + jnp.mean(jax.nn.softplus(d_fake))


def discriminator_loss(params, state: adversarial.State, expert: Transition, fake: Transition, key: jax.Array):
    """The chosen loss on D(expert) and D(fake), plus gradient penalty and l2."""
    cfg: Config = state.config
    d_e = score(state, params, expert.obs, expert.action, expert.terminated)
    d_f = score(state, params, fake.obs, fake.action, fake.terminated)
    adv = wasserstein_loss(d_e, d_f) if cfg.wasserstein else logistic_loss(d_e, d_f)
    gp, l2 = jnp.zeros(()), jnp.zeros(())
    if not is_static_zero(cfg.gp_weight):
        gp = input_penalty(lambda o, a, d: score(state, params, o, a, d), expert, fake, key, cfg,
                           state.generator.spec.num_actions)
    if not is_static_zero(cfg.l2_weight):
        l2 = cfg.l2_weight * l2_penalty(params)
    metrics = {"disc_loss": adv, "grad_penalty": gp, "disc_expert": jnp.mean(d_e), "disc_fake": jnp.mean(d_f)}
    return adv + gp + l2, metrics


def reward(params, state: adversarial.State, batch: Transition) -> jax.Array:
    """r = D (Wasserstein), or with the logistic discriminator the config's reward form of D."""
    d = score(state, params, batch.obs, batch.action, batch.terminated)
    return d if state.config.wasserstein else REWARD_FORMS[state.config.reward_form](d)


def discriminator(config: Config) -> Discriminator:
    net = discriminator_net(config)
    return Discriminator(lambda key, o, a, o2, d: net.init(key, o, a, d), discriminator_loss, reward)


def init(key: jax.Array, config: Config, spec: EnvSpec) -> adversarial.State:
    configs.check_type(config, Config, "gail.init")
    return adversarial.init(key, config, spec, discriminator(config))


def update(state: adversarial.State, batch: tuple) -> tuple[adversarial.State, dict]:
    """:func:`jaxil.il.adversarial.update` with GAIL's discriminator: ``batch`` is
    ``(expert, generator, policy_batch)`` rows with SAC, ``(expert, rollout)`` with PPO."""
    return adversarial.update(state, discriminator(state.config), batch)


def learned_reward(state: adversarial.State) -> RewardFn:
    """The reward GAIL trains its generator on, D or softplus(D), as a standalone
    ``reward_fn(obs, action, next_obs, terminated)``."""
    return adversarial.learned_reward(state, discriminator(state.config))


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of GAIL on ``env``
    against the expert ``data``."""
    configs.check_type(config, Config, "gail.make_train")
    return adversarial.make_train(config, discriminator(config), data, env, reference, "GAIL")
