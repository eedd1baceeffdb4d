"""Advantage actor-critic, synchronous (A2C; Mnih et al. 2016, the synchronous variant of
A3C), env inside the compiled loop.

One iteration: ``num_envs × rollout_steps`` env steps with the current policy, advantages
from the critic, then one gradient step on the whole rollout:

    L = −E[log π(a|s) · Â] + c_v · ½ E[(V(s) − R)²] − c_H · H[π]

With ``gae_lambda = 1`` (the default) R is the n-step return bootstrapped from V where the
rollout ends (truncations bootstrap, terminations do not) and Â = R − V(s); λ < 1 gives GAE.
Defaults are Stable-Baselines3's: 5 steps per env, RMSprop (decay 0.99, ε 1e-5 outside the
square root, as PyTorch's), learning rate 7e-4, advantages not standardized. Unlike SB3, each
network clips its own gradient norm (see :func:`jaxil.rl.actor_critic.optimizer`).
The actor-critic pieces (state, policy, value, rollout advantages) are PPO's, from
:mod:`jaxil.rl.actor_critic`; ``update(state, rollout)`` is importable on its own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.loop import Train
from jaxil.rl import actor_critic, onpolicy
from jaxil.rl.actor_critic import State, acting_params, observe, policy, value, with_acting_params
from jaxil.types import RewardFn, Transition

MAXIMUM_ENTROPY = False
"""A2C maximizes the return alone; its entropy bonus regularizes the update."""

OPTIMIZERS = {  # learning rate -> optimizer
    "rmsprop": lambda lr: optax.rmsprop(lr, decay=0.99, eps=1e-5, eps_in_sqrt=False),
    "adam": lambda lr: optax.adam(lr, eps=1e-5),
}


@struct.dataclass
class Config(actor_critic.Config):
    """A2C. Float fields may be arrays (a sweep is a vmap over configs)."""

    lr: float = 7e-4
    """learning rate (linearly annealed to 0 if anneal_lr)."""
    gae_lambda: float = 1.0
    """GAE λ; 1 gives n-step returns over the rollout."""
    rollout_steps: int = static(5)
    """steps per env per update (the n of the n-step return)."""
    optimizer: str = static("rmsprop")
    """"rmsprop" (SB3's and the paper's) or "adam"."""
    normalize_advantage: bool = static(False)
    """standardize the advantages of each rollout."""
    anneal_lr: bool = static(False)
    """decay the learning rate linearly to 0 over the run."""
    steps: int = static(500_000)
    """total environment steps (a multiple of num_envs · rollout_steps)."""
    eval_every: int = static(50_000)
    """environment steps between evaluations (a multiple of num_envs · rollout_steps)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimizer not in OPTIMIZERS:
            raise JaxilError(f"optimizer must be one of {tuple(OPTIMIZERS)} (--optimizer), got {self.optimizer!r}.")


def optimizer(config: Config) -> optax.GradientTransformation:
    return actor_critic.optimizer(config, 1, OPTIMIZERS[config.optimizer])


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "a2c.init")
    return actor_critic.init(key, config, spec, optimizer(config))


def policy_gradient_loss(log_prob: jax.Array, advantage: jax.Array) -> jax.Array:
    """−E[log π(a|s) · Â], the advantage held constant (the score-function estimator)."""
    return -jnp.mean(log_prob * jax.lax.stop_gradient(advantage))


def value_loss(v: jax.Array, target: jax.Array) -> jax.Array:
    """½ E[(V(s) − R)²] towards the (constant) return targets."""
    return 0.5 * jnp.mean(jnp.square(v - jax.lax.stop_gradient(target)))


def a2c_loss(params, state: State, t: Transition, target: jax.Array, key: jax.Array):
    """The three terms on a whole rollout (rows flattened): Â = R − V(s) with V from the
    parameters being updated (at the step they are the collecting ones, so this is the
    advantage at collection)."""
    cfg = state.config
    s = state.replace(params=params)
    dist = policy(s, t.obs)
    v = value(s, t.obs)
    advantage = target - v
    if cfg.normalize_advantage:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    pg = policy_gradient_loss(dist.log_prob(t.action), advantage)
    v_loss = value_loss(v, target)
    entropy = jnp.mean(dist.entropy_estimate(key))
    loss = pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
    return loss, {"pg_loss": pg, "value_loss": v_loss, "entropy": entropy}


def update(state: State, rollout: onpolicy.Rollout) -> tuple[State, dict[str, jax.Array]]:
    """One gradient step on a rollout (shape (T, num_envs)) collected by the current
    policy; then refresh the observation statistics."""
    t = actor_critic.checked_transition(state, rollout)
    _, _, target = actor_critic.advantages(state, t)
    flat_t, flat_target = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (t, target))
    key, loss_key = jax.random.split(state.key)
    grads, metrics = jax.grad(a2c_loss, has_aux=True)(state.params, state, flat_t, flat_target, loss_key)
    updates, opt_state = optimizer(state.config).update(grads, state.opt_state, state.params)
    state = state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state, key=key)
    return observe(state, t.obs).replace(step=state.step + 1), metrics


def make_train(
    config: Config, env: Env, reference: Reference | None = None, reward_fn: RewardFn | None = None
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` steps of A2C on ``env``
    (:mod:`jaxil.rl.onpolicy`'s loop). With ``reward_fn``, every rollout is relabeled by it
    (e.g. a learned reward); the env and the reported returns keep the true reward."""
    configs.check_type(config, Config, "a2c.make_train")
    return actor_critic.make_train(config, env, lambda key: init(key, config, env.spec), update, reference, reward_fn)


__all__ = ["MAXIMUM_ENTROPY", "Config", "State", "a2c_loss", "acting_params", "init", "make_train", "optimizer",
           "policy", "policy_gradient_loss", "update", "value", "value_loss", "with_acting_params"]
