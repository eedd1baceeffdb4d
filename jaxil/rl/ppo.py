"""Proximal policy optimization (Schulman et al. 2017), env inside the compiled loop.

One iteration: ``num_envs × rollout_steps`` env steps with the current policy, GAE
advantages (bootstrapping through truncations, never through terminations), then
``num_epochs`` passes of clipped-surrogate SGD over ``num_minibatches`` minibatches:

    L = −E[min(ρ A, clip(ρ, 1 ± ε) A)] + c_v · ½ E[max((V − R)², (V_clip − R)²)] − c_H · H[π]

with ρ = π(a|s)/π_old(a|s) (without ``clip_value`` the value term is plain ½(V − R)²).
Observations are standardized by running statistics that are frozen during a rollout
and its update and refreshed afterwards, so the stored log-probabilities stay exact.
Rollouts come from :mod:`jaxil.rl.onpolicy`'s loop; ``update(state, rollout)`` is
importable on its own (on-policy GAIL/AIRL relabel ``rollout.transition.reward`` and
call it).
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
from jaxil.rl.actor_critic import State, acting_params, normalize, observe, policy, value, with_acting_params
from jaxil.types import RewardFn, Transition

MAXIMUM_ENTROPY = False
"""PPO maximizes the return alone (its entropy bonus regularizes the update, not the
objective), so an entropy-regularized reward must carry its −log π term itself."""


@struct.dataclass
class Config(actor_critic.Config):
    """PPO (the shared actor-critic settings and PPO's own). Float fields may be arrays (a
    sweep is a vmap over configs)."""

    clip_eps: float = 0.2
    """ratio clip ε (also clips the value update)."""
    num_epochs: int = static(4)
    """SGD passes over each rollout."""
    num_minibatches: int = static(4)
    """minibatches per pass."""
    clip_value: bool = static(True)
    """clip the value update to ±clip_eps around its old value; turn off where returns are
    large (MuJoCo), since the clip then caps how fast V can follow them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size % self.num_minibatches:
            raise JaxilError(
                f"num_envs·rollout_steps ({self.batch_size}) must be divisible by "
                f"num_minibatches ({self.num_minibatches})."
            )


@struct.dataclass
class Batch:
    """Rollout rows with what PPO's loss needs besides (s, a, r): the acting policy's
    log π(a|s), and V(s) at collection."""

    transition: Transition
    log_prob: jax.Array
    value: jax.Array


def optimizer(config: Config) -> optax.GradientTransformation:
    """Adam (ε 1e-5) per network, annealed over every minibatch step of the run."""
    return actor_critic.optimizer(config, config.num_epochs * config.num_minibatches,
                                  lambda lr: optax.adam(lr, eps=1e-5))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "ppo.init")
    return actor_critic.init(key, config, spec, optimizer(config))


def ppo_loss(params, state: State, mb: Batch, advantage: jax.Array, target: jax.Array, key: jax.Array):
    """Clipped surrogate + clipped value loss − entropy bonus on one minibatch."""
    cfg = state.config
    s = state.replace(params=params)
    obs = mb.transition.obs
    dist = policy(s, obs)
    log_prob = dist.log_prob(mb.transition.action)
    ratio = jnp.exp(log_prob - mb.log_prob)
    adv = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    pg_loss = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv))
    v = value(s, obs)
    v_loss = jnp.square(v - target)
    if cfg.clip_value:
        v_clipped = mb.value + jnp.clip(v - mb.value, -cfg.clip_eps, cfg.clip_eps)
        v_loss = jnp.maximum(v_loss, jnp.square(v_clipped - target))
    v_loss = 0.5 * jnp.mean(v_loss)
    entropy = jnp.mean(dist.entropy_estimate(key))
    loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
    approx_kl = jnp.mean((ratio - 1.0) - jnp.log(ratio))
    return loss, {"pg_loss": pg_loss, "value_loss": v_loss, "entropy": entropy, "approx_kl": approx_kl}


def update(state: State, rollout: onpolicy.Rollout) -> tuple[State, dict[str, jax.Array]]:
    """PPO epochs over one rollout (shape (T, num_envs)) collected by the current policy;
    then refresh the observation statistics."""
    cfg = state.config
    t = actor_critic.checked_transition(state, rollout)
    # V at collection: the policy has not changed since, so these are its values then.
    v, advantage, target = actor_critic.advantages(state, t)
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (Batch(t, rollout.log_prob, v), advantage, target))
    tx = optimizer(cfg)

    def epoch(state, key):
        perm_key, key = jax.random.split(key)
        perm = jax.random.permutation(perm_key, cfg.batch_size)
        mbs = jax.tree.map(lambda x: x[perm].reshape((cfg.num_minibatches, -1) + x.shape[1:]), flat)

        def minibatch(state, inp):
            (mb, adv, tgt), k = inp
            grads, metrics = jax.grad(ppo_loss, has_aux=True)(state.params, state, mb, adv, tgt, k)
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), metrics

        return jax.lax.scan(minibatch, state, (mbs, jax.random.split(key, cfg.num_minibatches)))

    key, epoch_key = jax.random.split(state.key)
    state, metrics = jax.lax.scan(epoch, state.replace(key=key), jax.random.split(epoch_key, cfg.num_epochs))
    metrics = jax.tree.map(jnp.mean, metrics)
    return observe(state, t.obs).replace(step=state.step + 1), metrics


def make_train(
    config: Config, env: Env, reference: Reference | None = None, reward_fn: RewardFn | None = None
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` steps of PPO on ``env``
    (:mod:`jaxil.rl.onpolicy`'s loop). With ``reward_fn``, every rollout is relabeled by it
    (e.g. a learned reward); the env and the reported returns keep the true reward."""
    configs.check_type(config, Config, "ppo.make_train")
    return actor_critic.make_train(config, env, lambda key: init(key, config, env.spec), update, reference, reward_fn)


__all__ = ["MAXIMUM_ENTROPY", "Batch", "Config", "State", "acting_params", "init", "make_train", "normalize",
           "observe", "optimizer", "policy", "ppo_loss", "update", "value", "with_acting_params"]
