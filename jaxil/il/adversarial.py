"""What adversarial imitation (GAIL, AIRL) shares: a discriminator trained to tell
expert transitions from the generator's, whose output relabels the generator's rewards,
and the generator's loop with the env inside the compiled program.

Two generators, one interface:

* ``"sac"`` (off-policy, DAC/CleanIL style): per env step one discriminator step on
  ``expert_batch`` expert rows against as many rows of the *whole* replay buffer, then
  one SAC update on ``batch_size`` rows, half expert and half replay, every reward
  recomputed by the current discriminator (no gradient).
* ``"ppo"`` or ``"a2c"`` (on-policy, Ho & Ermon 2016): per iteration one rollout of
  ``num_envs × rollout_steps`` steps, ``disc_updates`` discriminator steps on random
  rollout rows against expert rows (or on whole fragments of consecutive steps, for a
  discriminator that asks for them), then PPO (A2C) on the rollout relabeled by the
  updated discriminator.

With ``warm_start_bc`` N, the generator's policy first takes N BC updates on the expert
data (and, with SAC, acts by it during the warm-up instead of uniformly at random).

An algorithm supplies a :class:`Discriminator`: its network, its loss and the reward it
gives the generator. The env is never wrapped: rewards are relabeled in the learner, and
every reported return is the env's true return.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil.data import replay
from jaxil.data.datasets import ExpertData, in_order, sample
from jaxil.data.fragments import cut_fragments
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import bc
from jaxil.il.offline import check_expert_data
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.losses import gradient_penalty
from jaxil.nets import action_features
from jaxil.rl import a2c, actor_critic, offpolicy, onpolicy, ppo, sac, solvers
from jaxil.types import RewardFn, Transition, check_batch, check_pair, concat, transition
from jaxil.types import relabel as relabel_rewards

GENERATORS = ("sac", "ppo", "a2c")
ON_POLICY = ("ppo", "a2c")
WARM_START_STREAM = 0x62632D77


@struct.dataclass
class GeneratorConfig(offpolicy.LoopConfig):
    """The generator's settings: an RL solver (SAC or PPO) trained on a reward the imitation
    algorithm supplies (a discriminator's, a density's). Its loop sizes come from
    :class:`offpolicy.LoopConfig`; the PPO generator uses its num_envs, steps and eval
    settings and ignores the replay ones."""

    generator: str = static("sac")
    """"sac" (off-policy, replay buffer), "ppo" or "a2c" (on-policy rollouts)."""
    # generator, both kinds
    gamma: float = 0.99
    """discount."""
    hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of the generator's actor and critic."""
    activation: str = static("silu")
    """activation of the generator's nets."""
    # sac generator
    actor_lr: float = 3e-4
    """SAC actor and temperature learning rate."""
    critic_lr: float = 3e-4
    """SAC critic learning rate."""
    init_alpha: float = 1.0
    """initial SAC temperature (learned towards entropy −act_dim)."""
    tau: float = 0.005
    """polyak rate of SAC's target critic."""
    batch_size: int = static(256)
    """rows per SAC update (GAIL and AIRL: ``expert_fraction`` of them expert rows)."""
    # on-policy generators (ppo, a2c)
    ppo_lr: float = 3e-4
    """PPO's (or A2C's) learning rate (PPO's annealed to 0)."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_eps: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.0
    """PPO entropy bonus."""
    reward_scale: float = 1.0
    """PPO multiplies the learned rewards by this."""
    rollout_steps: int = static(128)
    """steps per env per PPO iteration."""
    num_epochs: int = static(10)
    """PPO passes over each rollout."""
    num_minibatches: int = static(4)
    """PPO minibatches per pass."""
    normalize_obs: bool = static(True)
    """PPO's running observation normalization."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.generator not in GENERATORS:
            raise JaxilError(f"generator must be one of {GENERATORS}, got {self.generator!r}.")
        self.generator_config()  # its own checks (multiples of num_envs, rollout sizes)

    def generator_config(self) -> sac.Config | ppo.Config | a2c.Config:
        if self.generator == "sac":
            return sac.Config(
                actor_lr=self.actor_lr, critic_lr=self.critic_lr, alpha_lr=self.actor_lr, gamma=self.gamma,
                tau=self.tau, init_alpha=self.init_alpha, hidden=self.hidden, activation=self.activation,
                batch_size=self.batch_size, **self.loop_fields(),
            )
        shared = dict(
            lr=self.ppo_lr, gamma=self.gamma, gae_lambda=self.gae_lambda, ent_coef=self.ent_coef,
            reward_scale=self.reward_scale, num_envs=self.num_envs, rollout_steps=self.rollout_steps,
            hidden=self.hidden, activation=self.activation, normalize_obs=self.normalize_obs, steps=self.steps,
            eval_every=self.eval_every, eval_episodes=self.eval_episodes,
        )
        if self.generator == "a2c":
            return a2c.Config(**shared)
        return ppo.Config(clip_eps=self.clip_eps, num_epochs=self.num_epochs, num_minibatches=self.num_minibatches,
                          **shared)


@struct.dataclass
class Config(GeneratorConfig):
    """Discriminator and generator settings shared by GAIL and AIRL. Float fields may be
    arrays (a sweep is a vmap over configs). Defaults follow CleanIL's GAIL (SAC generator,
    10 expert trajectories, one discriminator and one SAC update per env step)."""

    # discriminator
    disc_lr: float = 3e-4
    """discriminator Adam learning rate."""
    gp_weight: float = 10.0
    """weight of the discriminator's gradient penalty (0: none)."""
    gp_target: float = 1.0
    """gradient ∞-norm above which the penalty applies (one-sided, at interpolates)."""
    l2_weight: float = 1e-5
    """weight of ½ Σθ² on the discriminator's parameters."""
    disc_hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of the discriminator."""
    disc_activation: str = static("silu")
    """activation of the discriminator."""
    expert_batch: int = static(256)
    """expert rows (and as many generator rows) per discriminator step."""
    disc_updates: int = static(1)
    """discriminator steps per iteration (env step for sac, rollout for ppo)."""
    expert_fraction: float = static(0.5)
    """share of expert rows in SAC's batch (CleanIL's real_ratio)."""
    # warm start
    warm_start_bc: int = static(0)
    """BC updates of the generator's policy on the expert data before adversarial
    training (0: none); with PPO its observation statistics start at the expert's."""
    warm_start_lr: float = 2e-3
    """peak Adam learning rate of the BC warm start (BC's: cosine decay to 0; batches of
    expert_batch rows)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.expert_fraction < 1.0:
            raise JaxilError(f"expert_fraction must be in [0, 1), got {self.expert_fraction}.")


def relabel_batch(batch: Transition | onpolicy.Rollout, reward_fn: RewardFn) -> Transition | onpolicy.Rollout:
    """The generator's batch, replay rows (SAC) or a rollout (PPO), with its rewards replaced
    by ``reward_fn``'s."""
    if isinstance(batch, onpolicy.Rollout):
        return batch.replace(transition=relabel_rewards(batch.transition, reward_fn))
    return relabel_rewards(batch, reward_fn)


def generator(config: GeneratorConfig) -> ModuleType:
    """The generator's solver module (``config.generator`` names it; see
    :mod:`jaxil.rl.solvers` for what a solver provides)."""
    return solvers.solver(config.generator, GENERATORS)


@struct.dataclass
class State:
    generator: Any  # the generator solver's learner state
    disc_params: chex.ArrayTree
    disc_opt: optax.OptState
    key: jax.Array
    config: Any  # the algorithm's Config (a subclass of this module's)


def policy(state: State, obs: jax.Array):
    """π(·|s) of the generator, on raw observations."""
    return generator(state.config).policy(state.generator, obs)


@dataclasses.dataclass(frozen=True)
class Discriminator:
    """What an adversarial algorithm plugs in.

    init: ``(key, obs, action, next_obs, done) -> params`` of the network (a discrete
        action arrives one-hot, as :func:`jaxil.nets.action_features` gives it).
    loss: ``(params, state, expert, fake, key) -> (loss, metrics)``, with ``state`` the
        current :class:`State` (AIRL reads the generator's log π from it).
    reward: ``(params, state, batch) -> r (B,)``, the generator's reward.
    fragment: with an on-policy generator, rows reach ``loss`` as ``expert_batch / fragment``
        whole fragments of ``fragment`` consecutive steps of one episode, flattened
        fragment-major (GCL's cost regularizers look along them); 1: independent rows.
    """

    init: Callable[..., chex.ArrayTree]
    loss: Callable[..., tuple[jax.Array, dict]]
    reward: Callable[[chex.ArrayTree, State, Transition], jax.Array]
    fragment: int = 1


def input_penalty(
    f: Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
    expert: Transition,
    fake: Transition,
    key: jax.Array,
    config: Config,
    num_actions: int | None = None,
) -> jax.Array:
    """WGAN-GP-style margin penalty on ‖∇ f‖_∞ at interpolates of expert and generator
    inputs ``[s, a, d]`` (the done flag included, as the absorbing input sees it; discrete
    actions one-hot, of ``num_actions``, so ``f`` gets interpolated one-hots)."""

    def row(t: Transition) -> jax.Array:
        a = action_features(t.action, num_actions).astype(t.obs.dtype)
        return jnp.concatenate([t.obs, a, t.terminated.astype(t.obs.dtype)[:, None]], axis=-1)

    obs_dim, act_dim = expert.obs.shape[-1], row(expert).shape[-1] - expert.obs.shape[-1] - 1

    def f_row(x: jax.Array) -> jax.Array:
        return f(x[None, :obs_dim], x[None, obs_dim : obs_dim + act_dim], x[None, -1])[0]

    return gradient_penalty(f_row, row(expert), row(fake), key, target=config.gp_target, weight=config.gp_weight)


def init(key: jax.Array, config: Config, spec: EnvSpec, disc: Discriminator) -> State:
    k_gen, k_disc, key = jax.random.split(key, 3)
    gen = generator(config).init(k_gen, config.generator_config(), spec)
    o, a = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.num_actions if spec.discrete else spec.action_dim))
    disc_params = disc.init(k_disc, o, a, o, jnp.zeros((1,), bool))
    return State(gen, disc_params, optax.adam(config.disc_lr).init(disc_params), key, config)


def warm_start(state: State, expert: Transition, key: jax.Array) -> State:
    """``warm_start_bc`` BC updates of the generator's policy on ``expert`` rows (a BC
    warm start: imitation's most requested remedy for GAIL's and AIRL's slow start)."""
    cfg, gen = state.config, generator(state.config)
    g = state.generator
    if cfg.generator in ON_POLICY:
        # PPO and A2C standardize by running statistics: start them at the expert's, or the
        # first rollout's statistics would shift every input the clone was fitted on.
        g = actor_critic.observe(g, expert.obs)
    params = gen.acting_params(g)

    def policy_fn(actor, obs):
        return gen.policy(gen.with_acting_params(g, params | {"actor": actor}), obs)

    actor, _ = bc.clone(key, params["actor"], policy_fn, expert, cfg.warm_start_bc, cfg.expert_batch, cfg.warm_start_lr)
    return state.replace(generator=gen.with_acting_params(g, params | {"actor": actor}))


def update_discriminator(state: State, disc: Discriminator, expert: Transition, fake: Transition):
    """One Adam step of the discriminator on ``disc.loss``."""
    key, k = jax.random.split(state.key)
    grads, metrics = jax.grad(disc.loss, has_aux=True)(state.disc_params, state, expert, fake, k)
    updates, opt = optax.adam(state.config.disc_lr).update(grads, state.disc_opt, state.disc_params)
    params = optax.apply_updates(state.disc_params, updates)
    return state.replace(disc_params=params, disc_opt=opt, key=key), metrics


def learned_reward(state: State, disc: Discriminator) -> RewardFn:
    """The generator's reward under the current discriminator, as a standalone function."""
    return lambda obs, action, next_obs, terminated: disc.reward(
        state.disc_params, state, transition(obs, action, next_obs, terminated)
    )


def relabel(state: State, disc: Discriminator, batch: Transition) -> Transition:
    """``batch`` with the discriminator's rewards (no gradient)."""
    return relabel_rewards(batch, learned_reward(state, disc))


def update_off_policy(
    state: State, disc: Discriminator, expert: Transition, buffer: replay.ReplayBuffer, key: jax.Array
) -> tuple[State, dict]:
    """``disc_updates`` discriminator steps (expert vs replay), then one SAC update on a
    relabeled half-expert, half-replay batch."""
    cfg = state.config

    def disc_step(state, k):
        k_e, k_r = jax.random.split(k)
        fake = replay.sample(k_r, buffer, cfg.expert_batch)
        return update_discriminator(state, disc, sample(k_e, expert, cfg.expert_batch), fake)

    k_disc, k_e, k_r = jax.random.split(key, 3)
    state, m_disc = jax.lax.scan(disc_step, state, jax.random.split(k_disc, cfg.disc_updates))
    n_expert = round(cfg.expert_fraction * cfg.batch_size)
    batch = replay.sample(k_r, buffer, cfg.batch_size - n_expert)
    if n_expert:
        batch = concat(sample(k_e, expert, n_expert), batch)
    state, m_sac = update_sac_generator(state, disc, batch)
    return state, jax.tree.map(jnp.mean, m_disc) | m_sac


def update_sac_generator(state: State, disc: Discriminator, batch: Transition) -> tuple[State, dict]:
    """One SAC update on ``batch`` relabeled by the current discriminator."""
    generator, metrics = sac.update(state.generator, relabel(state, disc, batch))
    return state.replace(generator=generator), metrics


def update(state: State, disc: Discriminator, batch: tuple) -> tuple[State, dict]:
    """One update on given rows, what the loops do with rows they sample themselves:

    * SAC generator, ``batch = (expert, generator, policy_batch)``: one discriminator step
      on expert vs generator rows, then one SAC update on the relabeled policy batch;
    * PPO or A2C generator, ``batch = (expert, rollout)``: :func:`update_on_policy`.
    """
    spec = state.generator.spec
    if state.config.generator in ON_POLICY:
        expert, rollout = check_pair(batch, spec, ("expert", "rollout"), second_is_rollout=True)
        return update_on_policy(state, disc, jax.tree.map(lambda x: x[:, None], expert), rollout)
    if not isinstance(batch, tuple) or len(batch) != 3:
        raise JaxilError("with the SAC generator, batch is (expert, generator, policy_batch) transitions.")
    for b, name in zip(batch, ("expert", "generator", "policy_batch")):
        check_batch(b, spec, name)
    expert, fake, policy_batch = batch
    state, m_disc = update_discriminator(state, disc, expert, fake)
    state, m_sac = update_sac_generator(state, disc, policy_batch)
    return state, m_disc | m_sac


def draw_rows(key: jax.Array, rows: Transition, n: int, fragment: int) -> Transition:
    """``n`` rows drawn uniformly from ``rows`` laid out (steps, envs): independent rows, or
    ``n / fragment`` whole fragments of consecutive steps (flattened fragment-major)."""
    if fragment == 1:
        return sample(key, jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), rows), n)
    frags, _ = cut_fragments(key, rows, fragment, n // fragment)
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), frags)


def update_on_policy(
    state: State, disc: Discriminator, expert: Transition, rollout: onpolicy.Rollout
) -> tuple[State, dict]:
    """``disc_updates`` discriminator steps (rows of ``expert``, laid out (steps, envs) as
    ``rollout``, against rollout rows), then the generator (PPO or A2C) on the rollout
    relabeled by the updated discriminator."""
    cfg = state.config

    def disc_step(state, k):
        k_e, k_r = jax.random.split(k)
        fake = draw_rows(k_r, rollout.transition, cfg.expert_batch, disc.fragment)
        return update_discriminator(state, disc, draw_rows(k_e, expert, cfg.expert_batch, disc.fragment), fake)

    key, k_disc = jax.random.split(state.key)
    state, m_disc = jax.lax.scan(disc_step, state.replace(key=key), jax.random.split(k_disc, cfg.disc_updates))
    rollout = rollout.replace(transition=relabel(state, disc, rollout.transition))
    gen_state, m_gen = generator(cfg).update(state.generator, rollout)
    metrics = jax.tree.map(jnp.mean, m_disc) | m_gen | {"disc_reward": jnp.mean(rollout.transition.reward)}
    return state.replace(generator=gen_state), metrics


def make_train(
    config: Config, disc: Discriminator, data: ExpertData, env: Env, reference: Reference | None, algo: str
) -> Train:
    """``train(key) -> (state, metrics)`` for an adversarial algorithm with either generator:
    :mod:`jaxil.rl.offpolicy`'s loop for SAC, :mod:`jaxil.rl.onpolicy`'s for PPO."""
    check_expert_data(data, env, algo, continuous=config.generator == "sac")

    def init_learner(key: jax.Array) -> State:
        state = init(key, config, env.spec, disc)
        if config.warm_start_bc:  # its own stream, so runs without it draw what they always did
            state = warm_start(state, data.train, jax.random.fold_in(key, WARM_START_STREAM))
        return state

    loop = dict(init_learner=init_learner, policy_fn=policy, reference=reference, heldout=data.heldout)
    if config.generator == "sac":
        learn = lambda state, buffer, key: update_off_policy(state, disc, data.train, buffer, key)  # noqa: E731
        # a warm-started generator fills the buffer with its own behaviour from the start
        warmup = offpolicy.policy_behaviour(policy) if config.warm_start_bc else None
        return offpolicy.make_train(config.generator_config(), env, learn=learn, warmup=warmup, **loop)
    # rows (steps, 1): random rows, or for fragments the training split in episode order
    expert = in_order(data) if disc.fragment > 1 else data.train
    expert = jax.tree.map(lambda x: x[:, None], expert)
    learn = lambda state, rollout: update_on_policy(state, disc, expert, rollout)  # noqa: E731
    return onpolicy.make_train(config.generator_config(), env, learn=learn, **loop)
