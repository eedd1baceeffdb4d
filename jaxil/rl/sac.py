"""Soft actor-critic (Haarnoja et al. 2018, with learned temperature), env in the loop.

One learner update, in this order (CleanIL's): critic, actor, temperature, polyak.

    critic:      y = r + γ (1 − term) (min_i Q̄_i(s', a') − α log π(a'|s')),  a' ~ π(·|s')
                 L_Q = Σ_i ½ E (Q_i(s, a) − y)²            (or a Huber loss)
    actor:       L_π = E_s [α log π(ã|s) − min_i Q_i(s, ã)],  ã ~ π(·|s) reparameterized
    temperature: L_α = −E [α (log π(ã|s) + H̄)],  H̄ = −scale · act_dim, log π held fixed
    target:      θ̄ ← (1 − τ) θ̄ + τ θ

``update(state, batch)`` and each piece (``update_critic``, ``update_actor``,
``update_temperature``, ``polyak``) are importable on their own: off-policy GAIL and
SQIL relabel rewards and call ``update``; IQ-Learn and friends reuse the actor,
temperature and target steps with their own critic losses.
"""

from __future__ import annotations

from typing import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil import configs
from jaxil.configs import concrete_max, static
from jaxil.loop import Train
from jaxil.losses import gradient_penalty, td_target
from jaxil.nets import QEnsemble, make_actor
from jaxil.rl import offpolicy
from jaxil.types import RewardFn, Transition, check_batch, check_obs_stats

MAXIMUM_ENTROPY = True
"""SAC maximizes return plus α·H[π] itself (soft RL), so a reward needs no −log π term."""


@struct.dataclass
class Config(offpolicy.LoopConfig):
    """SAC. Float fields may be arrays (a sweep is a vmap over configs). The loop's sizes
    come from :class:`offpolicy.LoopConfig`."""

    actor_lr: float = 3e-4
    """actor Adam learning rate."""
    critic_lr: float = 3e-4
    """critic Adam learning rate."""
    alpha_lr: float = 3e-4
    """temperature Adam learning rate."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """polyak rate of the target critic."""
    init_alpha: float = 1.0
    """initial temperature α."""
    target_entropy_scale: float = 1.0
    """target entropy H̄ = −scale · act_dim."""
    hidden: tuple[int, ...] = static((256, 256))
    """hidden widths of actor and critic MLPs."""
    activation: str = static("relu")
    """activation of actor and critic MLPs."""
    num_qs: int = static(2)
    """critics in the ensemble (min over them in targets)."""
    learn_alpha: bool = static(True)
    """tune α towards the target entropy (else keep init_alpha)."""
    critic_loss: str = static("mse")
    """"mse" or "huber" (δ = 1) TD loss."""
    critic_zero_init: bool = static(False)
    """start every Q head at Q ≡ 0 (zeroed last layer), as implicit-reward critics want."""
    absorbing_terminal: bool = static(False)
    """a termination enters an absorbing state that keeps paying the terminal reward, so a
    terminal row's target is r/(1 − γ). For learned rewards with an absorbing-state input
    (off-policy GAIL); with an env's reward it would pay e.g. hopper's last alive bonus forever."""
    batch_size: int = static(256)
    """transitions per update."""
    warmup_steps: int = static(5_000)
    steps: int = static(100_000)
    eval_episodes: int = static(20)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.critic_loss not in ("mse", "huber"):
            raise JaxilError(f"critic_loss must be 'mse' or 'huber', got {self.critic_loss!r}.")
        gamma = concrete_max(self.gamma) if self.absorbing_terminal else None
        if gamma is not None and gamma >= 1.0:
            raise JaxilError(
                f"absorbing_terminal values a termination as r/(1 − γ), infinite for gamma = {gamma}; "
                "use gamma < 1 or turn off the absorbing-state input."
            )
        offpolicy.check_config(self, self.batch_size)


@struct.dataclass
class State:
    """The SAC learner: everything ``update`` needs, nothing about the environment."""

    actor_params: chex.ArrayTree
    critic_params: chex.ArrayTree
    target_params: chex.ArrayTree
    log_alpha: jax.Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    obs_mean: jax.Array
    obs_std: jax.Array
    key: jax.Array
    step: jax.Array
    config: Config
    actor: nn.Module = struct.field(pytree_node=False)
    critic: nn.Module = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)  # what batches must fit (checked while tracing)

    @property
    def alpha(self) -> jax.Array:
        return jnp.exp(self.log_alpha)

    @property
    def target_entropy(self) -> jax.Array:
        return -self.config.target_entropy_scale * len(self.actor.action_low)


def _adam(lr) -> optax.GradientTransformation:
    return optax.adam(lr)


def init(
    key: jax.Array,
    config: Config,
    spec: EnvSpec,
    obs_mean: jax.Array | None = None,
    obs_std: jax.Array | None = None,
    critic_extra_inputs: int = 0,
) -> State:
    configs.check_type(config, Config, "sac.init")
    check_obs_stats(spec, obs_mean, obs_std)
    if spec.discrete:
        raise JaxilError(f"SAC here is for continuous actions; env {spec.name!r} is discrete (use PPO).")
    actor = make_actor(spec, config.hidden, config.activation)
    critic = QEnsemble(
        config.hidden, config.activation, config.num_qs, out_scale=0.0 if config.critic_zero_init else 1.0
    )
    k_a, k_c, key = jax.random.split(key, 3)
    obs0, act0 = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim))
    actor_params = actor.init(k_a, obs0)
    critic_params = critic.init(k_c, jnp.zeros((1, spec.obs_dim + critic_extra_inputs)), act0)
    log_alpha = jnp.log(jnp.asarray(config.init_alpha, jnp.float32))
    return State(
        actor_params=actor_params,
        critic_params=critic_params,
        target_params=critic_params,
        log_alpha=log_alpha,
        actor_opt=_adam(config.actor_lr).init(actor_params),
        critic_opt=_adam(config.critic_lr).init(critic_params),
        alpha_opt=_adam(config.alpha_lr).init(log_alpha),
        obs_mean=jnp.zeros(spec.obs_dim) if obs_mean is None else jnp.asarray(obs_mean, jnp.float32),
        obs_std=jnp.ones(spec.obs_dim) if obs_std is None else jnp.asarray(obs_std, jnp.float32),
        key=key,
        step=jnp.zeros((), jnp.int32),
        config=config,
        actor=actor,
        critic=critic,
        spec=spec,
    )


def acting_params(state: State) -> dict:
    """What acting reads, and so what a saved expert stores: the actor's weights and the
    fixed observation standardization."""
    return {"actor": state.actor_params, "obs_mean": state.obs_mean, "obs_std": state.obs_std}


def with_acting_params(state: State, params: dict) -> State:
    return state.replace(actor_params=params["actor"], obs_mean=params["obs_mean"], obs_std=params["obs_std"])


def normalize(state: State, obs: jax.Array) -> jax.Array:
    return (obs - state.obs_mean) / state.obs_std


def policy(state: State, obs: jax.Array, actor_params=None):
    """π(·|s) as a distrax distribution, on raw observations."""
    params = state.actor_params if actor_params is None else actor_params
    return state.actor.apply(params, normalize(state, obs))


def q_values(state: State, critic_params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """All critics' Q(s, a), shape (num_qs, B), on raw observations."""
    return state.critic.apply(critic_params, normalize(state, obs), action)


def q_values_per_head(state: State, critic_params, critic_obs: jax.Array, action: jax.Array) -> jax.Array:
    """Q_i(x_i, a_i) on *normalized* critic inputs with a leading (num_qs,) axis: head i
    reads slice i (per-head input gradients, e.g. gradient penalties, in one pass)."""
    return state.critic.clone(per_head_input=True).apply(critic_params, critic_obs, action)


def soft_target(state: State, batch: Transition, key: jax.Array) -> jax.Array:
    """y = r + γ (1 − term) (min_i Q̄_i(s', a') − α log π(a'|s')), a' ~ π(·|s'),
    plus term · γ r/(1 − γ) with ``absorbing_terminal``."""
    next_action, next_logp = policy(state, batch.next_obs).sample_and_log_prob(seed=key)
    next_q = jnp.min(q_values(state, state.target_params, batch.next_obs, next_action), axis=0)
    config = state.config
    return td_target(batch.reward, next_q - state.alpha * next_logp, batch.terminated, config.gamma,
                     absorbing=config.absorbing_terminal)


def critic_loss(critic_params, state: State, batch: Transition, target: jax.Array):
    """Σ_i ½ E (Q_i(s, a) − y)² (or Σ_i E huber(Q_i − y))."""
    q = q_values(state, critic_params, batch.obs, batch.action)
    err = q - jax.lax.stop_gradient(target)[None]
    if state.config.critic_loss == "huber":
        per_q = jnp.mean(optax.huber_loss(err, delta=1.0), axis=1)
    else:
        per_q = 0.5 * jnp.mean(jnp.square(err), axis=1)
    loss = jnp.sum(per_q)
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def critic_gradient_penalty(
    state: State,
    critic_params,
    real: jax.Array,
    fake: jax.Array | None = None,
    key: jax.Array | None = None,
    *,
    target: jax.Array | float,
    weight: jax.Array | float,
    absorbing: bool = False,
    max_q: jax.Array | float | None = None,
) -> jax.Array:
    """:func:`jaxil.losses.gradient_penalty` on the critics' input gradients at rows
    x = [normalized s, a] (interpolates of ``real`` and ``fake`` rows, or the ``real``
    rows themselves), each head penalized on its own gradient. With ``absorbing`` the
    critic reads [s, d = 0, a] (a real state, for critics with an absorbing-state input);
    ``max_q`` clips Q as the critic's loss does (a clipped head has zero gradient)."""
    act_dim = len(state.actor.action_low)

    def q(xh: jax.Array) -> jax.Array:  # per-head rows (H, D) -> (H,)
        obs, action = xh[:, None, :-act_dim], xh[:, None, -act_dim:]
        if absorbing:
            obs = jnp.concatenate([obs, jnp.zeros(obs.shape[:-1] + (1,))], -1)
        q = q_values_per_head(state, critic_params, obs, action)[:, 0]
        return q if max_q is None else jnp.clip(q, -max_q, max_q)

    return gradient_penalty(q, real, fake, key, target=target, weight=weight, heads=state.config.num_qs)


QFn = Callable[[jax.Array, jax.Array], jax.Array]  # (obs, action) -> (num, B) or (B,)


def actor_loss(actor_params, state: State, obs: jax.Array, key: jax.Array, q_fn: QFn):
    """E_s [α log π(ã|s) − min_i Q_i(s, ã)], ã ~ π(·|s) (reparameterized)."""
    action, logp = policy(state, obs, actor_params).sample_and_log_prob(seed=key)
    q = q_fn(obs, action)
    q = jnp.min(q, axis=0) if q.ndim == 2 else q
    loss = jnp.mean(state.alpha * logp - q)
    return loss, {"actor_loss": loss, "log_prob": jnp.mean(logp)}


def temperature_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: jax.Array):
    """−E [α (log π + H̄)] with log π held fixed."""
    return -jnp.exp(log_alpha) * (jax.lax.stop_gradient(log_prob) + target_entropy)


def step_critic(state: State, loss_fn: Callable, *args) -> tuple[State, dict]:
    """One Adam step of the critics on ``loss_fn(critic_params, *args) -> (loss, metrics)``
    (how IL critics with their own losses reuse SAC's learner)."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.critic_params, *args)
    updates, opt = _adam(state.config.critic_lr).update(grads, state.critic_opt, state.critic_params)
    return state.replace(critic_params=optax.apply_updates(state.critic_params, updates), critic_opt=opt), metrics


def step_actor(state: State, loss_fn: Callable, *args) -> tuple[State, dict]:
    """One Adam step of the actor on ``loss_fn(actor_params, *args) -> (loss, metrics)``."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.actor_params, *args)
    updates, opt = _adam(state.config.actor_lr).update(grads, state.actor_opt, state.actor_params)
    return state.replace(actor_params=optax.apply_updates(state.actor_params, updates), actor_opt=opt), metrics


def update_critic(state: State, batch: Transition, target: jax.Array | None = None):
    """One critic step towards ``target`` (default: the soft TD target of ``batch``)."""
    key, k = jax.random.split(state.key)
    if target is None:
        target = soft_target(state, batch, k)
    state, metrics = step_critic(state, critic_loss, state, batch, target)
    return state.replace(key=key), metrics


def update_actor(state: State, obs: jax.Array, q_fn: QFn | None = None):
    """One actor step on states ``obs``; ``q_fn`` defaults to the online critics."""
    key, k = jax.random.split(state.key)
    if q_fn is None:
        q_fn = lambda o, a: q_values(state, state.critic_params, o, a)  # noqa: E731
    state, metrics = step_actor(state, actor_loss, state, obs, k, q_fn)
    return state.replace(key=key), metrics


def update_temperature(state: State, log_prob: jax.Array):
    """One temperature step (a no-op when ``learn_alpha`` is off)."""
    if not state.config.learn_alpha:
        return state, {"alpha": state.alpha}
    grad = jax.grad(temperature_loss)(state.log_alpha, log_prob, state.target_entropy)
    updates, opt = _adam(state.config.alpha_lr).update(grad, state.alpha_opt, state.log_alpha)
    log_alpha = optax.apply_updates(state.log_alpha, updates)
    return state.replace(log_alpha=log_alpha, alpha_opt=opt), {"alpha": jnp.exp(log_alpha)}


def polyak(target: chex.ArrayTree, online: chex.ArrayTree, tau: jax.Array | float) -> chex.ArrayTree:
    """θ̄ ← (1 − τ) θ̄ + τ θ."""
    return optax.incremental_update(online, target, tau)


def update_target(state: State) -> State:
    """The last step of every update: polyak the target critics (rate ``config.tau``) and
    count the update."""
    return state.replace(
        target_params=polyak(state.target_params, state.critic_params, state.config.tau), step=state.step + 1
    )


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """A full SAC update: critic, actor, temperature, polyak."""
    check_batch(batch, state.spec)
    state, m_critic = update_critic(state, batch)
    state, m_actor = update_actor(state, batch.obs)
    state, m_alpha = update_temperature(state, m_actor["log_prob"])
    return update_target(state), m_critic | m_actor | m_alpha


# --------------------------------------------------------------------------------------
# Online training: jaxil.rl.offpolicy's loop (env, replay buffer, learner in one scan).

def make_train(
    config: Config, env: Env, reference: Reference | None = None, reward_fn: RewardFn | None = None
) -> Train:
    """``train(key) -> (state, metrics)``: warm-up, then ``config.steps`` SAC steps. With
    ``reward_fn``, every sampled batch is relabeled by it (e.g. a learned reward); the env
    and the reported returns keep the true reward."""
    configs.check_type(config, Config, "sac.make_train")
    return offpolicy.solver_train(config, env, init=init, update=update, policy=policy, reference=reference,
                                  reward_fn=reward_fn)
