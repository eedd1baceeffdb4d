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

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics, specs
from flax import struct

from jaxil.envs.core import Env, EnvSpec
from jaxil.envs.shaping import potential, shaped_reward
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.losses import gae_advantages
from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.loop import Train, chunking
from jaxil.nets import ValueNet, make_actor
from jaxil.rl import onpolicy
from jaxil.types import RewardFn, Transition, check_batch

MAXIMUM_ENTROPY = False
"""PPO maximizes the return alone (its entropy bonus regularizes the update, not the
objective), so an entropy-regularized reward must carry its −log π term itself."""

@struct.dataclass
class Config(configs.Config):
    """PPO. Float fields may be arrays (a sweep is a vmap over configs)."""

    lr: float = 3e-4
    """Adam learning rate (linearly annealed to 0 if anneal_lr)."""
    gamma: float = 0.99
    """discount."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_eps: float = 0.2
    """ratio clip ε (also clips the value update)."""
    ent_coef: float = 0.0
    """entropy bonus weight."""
    vf_coef: float = 0.5
    """value loss weight."""
    max_grad_norm: float = 0.5
    """global gradient-norm clip."""
    reward_scale: float = 1.0
    """rewards are multiplied by this before GAE."""
    shaping: float = 0.0
    """weight of potential-based shaping with the env's potential (jaxil.envs.shaping);
    for training experts on sparse-reward envs only, metrics report the true reward."""
    num_envs: int = static(16)
    """parallel environments."""
    rollout_steps: int = static(128)
    """steps per env per iteration."""
    num_epochs: int = static(4)
    """SGD passes over each rollout."""
    num_minibatches: int = static(4)
    """minibatches per pass."""
    hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the actor and critic MLPs."""
    activation: str = static("tanh")
    """activation of both MLPs."""
    clip_value: bool = static(True)
    """clip the value update to ±clip_eps around its old value; turn off where returns are
    large (MuJoCo), since the clip then caps how fast V can follow them."""
    normalize_obs: bool = static(False)
    """standardize observations with running statistics."""
    anneal_lr: bool = static(True)
    """decay the learning rate linearly to 0 over the run."""
    steps: int = static(491_520)
    """total environment steps (a multiple of num_envs · rollout_steps)."""
    eval_every: int = static(49_152)
    """environment steps between evaluations (a multiple of num_envs · rollout_steps)."""
    eval_episodes: int = static(20)
    """evaluation episodes per evaluation, run in parallel."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.rollout_steps

    @property
    def num_iterations(self) -> int:
        return self.steps // self.batch_size

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size % self.num_minibatches:
            raise JaxilError(
                f"num_envs·rollout_steps ({self.batch_size}) must be divisible by "
                f"num_minibatches ({self.num_minibatches})."
            )
        for name in ("steps", "eval_every"):
            value, b = getattr(self, name), self.batch_size
            if value % b:
                nearest = sorted({max(b, value // b * b), (value // b + 1) * b})
                raise JaxilError(
                    f"{name} ({value}) must be a multiple of num_envs·rollout_steps ({b}); "
                    f"pass --{name.replace('_', '-')} {' or '.join(map(str, nearest))}."
                )
        chunking(self.steps // self.batch_size, self.eval_every // self.batch_size)


@struct.dataclass
class Batch:
    """Rollout rows with what PPO's loss needs besides (s, a, r): the acting policy's
    log π(a|s), and V(s) and V(s') (true successor) at collection."""

    transition: Transition
    log_prob: jax.Array
    value: jax.Array
    next_value: jax.Array


@struct.dataclass
class State:
    """The PPO learner: everything ``update`` needs, nothing about the environment (the
    envs live in :class:`jaxil.rl.onpolicy.TrainState`)."""

    params: chex.ArrayTree  # {"actor": ..., "critic": ...}
    opt_state: optax.OptState
    obs_stats: running_statistics.RunningStatisticsState
    key: jax.Array
    step: jax.Array  # iterations done
    config: Config
    actor: nn.Module = struct.field(pytree_node=False)
    critic: nn.Module = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)  # what rollouts must fit (checked while tracing)


def optimizer(config: Config) -> optax.GradientTransformation:
    """Adam per network, each with its own gradient-norm clip: a joint clip lets the
    (large) value gradient shrink the policy's steps to nothing."""
    updates_total = config.num_iterations * config.num_epochs * config.num_minibatches
    lr = optax.linear_schedule(config.lr, 0.0, updates_total) if config.anneal_lr else config.lr
    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    labels = lambda params: {k: jax.tree.map(lambda _: k, v) for k, v in params.items()}  # noqa: E731
    return optax.multi_transform({"actor": tx, "critic": tx}, labels)


def normalize(state: State, obs: jax.Array) -> jax.Array:
    if not state.config.normalize_obs:
        return obs
    return running_statistics.normalize(obs, state.obs_stats)


def policy(state: State, obs: jax.Array):
    """π(·|s) as a distrax distribution, on raw observations."""
    return state.actor.apply(state.params["actor"], normalize(state, obs))


def value(state: State, obs: jax.Array) -> jax.Array:
    return state.critic.apply(state.params["critic"], normalize(state, obs))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "ppo.init")
    actor = make_actor(spec, config.hidden, config.activation, log_std_init=0.0, out_scale=0.01)
    critic = ValueNet(config.hidden, config.activation)
    k_actor, k_critic, key = jax.random.split(key, 3)
    dummy = jnp.zeros((1, spec.obs_dim))
    params = {"actor": actor.init(k_actor, dummy), "critic": critic.init(k_critic, dummy)}
    return State(
        params=params,
        opt_state=optimizer(config).init(params),
        obs_stats=running_statistics.init_state(specs.Array((spec.obs_dim,), jnp.float32)),
        key=key,
        step=jnp.zeros((), jnp.int32),
        config=config,
        actor=actor,
        critic=critic,
        spec=spec,
    )


def acting_params(state: State) -> dict:
    """What acting reads, and so what a saved expert stores: the actor's weights and the
    running observation statistics."""
    return {"actor": state.params["actor"], "obs_stats": state.obs_stats}


def with_acting_params(state: State, params: dict) -> State:
    return state.replace(params=state.params | {"actor": params["actor"]}, obs_stats=params["obs_stats"])


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
    t = rollout.transition
    check_batch(t, state.spec, "rollout.transition")
    if jnp.shape(rollout.log_prob) != t.reward.shape or t.reward.ndim != 2:
        raise JaxilError(f"a rollout is (steps, num_envs): transition rewards have shape {t.reward.shape} and "
                         f"log_prob {jnp.shape(rollout.log_prob)}; both must be (steps, num_envs).")
    # V at collection: the policy has not changed since, so these are its values then.
    rollout = Batch(t, rollout.log_prob, value(state, t.obs), value(state, t.next_obs))
    advantage, target = gae_advantages(
        cfg.reward_scale * t.reward,
        rollout.value,
        rollout.next_value,
        t.terminated.astype(jnp.float32),
        (t.terminated | t.truncated).astype(jnp.float32),
        cfg.gamma,
        cfg.gae_lambda,
    )
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (rollout, advantage, target))
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


def observe(state: State, obs: jax.Array) -> State:
    """Fold observations (any leading shape) into the running statistics, if the policy
    standardizes its inputs."""
    if not state.config.normalize_obs:
        return state
    return state.replace(obs_stats=running_statistics.update(state.obs_stats, obs))


def make_train(
    config: Config, env: Env, reference: Reference | None = None, reward_fn: RewardFn | None = None
) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` steps of PPO on ``env``
    (:mod:`jaxil.rl.onpolicy`'s loop). With ``reward_fn``, every rollout is relabeled by it
    (e.g. a learned reward); the env and the reported returns keep the true reward."""
    configs.check_type(config, Config, "ppo.make_train")
    phi = potential(env.spec.name) if not is_static_zero(config.shaping) else None

    def learn(state: State, rollout: onpolicy.Rollout):
        if phi is not None:
            t = rollout.transition
            r = shaped_reward(t.reward, t.obs, t.next_obs, t.terminated, phi, config.shaping, config.gamma)
            rollout = rollout.replace(transition=t.replace(reward=r))
        return update(state, rollout)

    return onpolicy.make_train(
        config, env, init_learner=lambda key: init(key, config, env.spec), learn=learn, policy_fn=policy,
        reference=reference, reward_fn=reward_fn,
    )
