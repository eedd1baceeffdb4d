"""The actor-critic learner shared by the on-policy solvers (PPO, A2C): their common
settings, the state (actor, critic, optimizer, running observation statistics), the policy
and value functions on raw observations, and the rollout's advantages. Each solver file
adds its own loss and ``update``; rollouts come from :mod:`jaxil.rl.onpolicy`'s loop.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics, specs
from flax import struct

from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.envs.core import Env, EnvSpec
from jaxil.envs.shaping import potential, shaped_reward
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.loop import Train, chunking
from jaxil.losses import gae_advantages
from jaxil.nets import ValueNet, make_actor
from jaxil.rl import onpolicy
from jaxil.types import RewardFn, Transition, check_batch


@struct.dataclass
class Config(configs.Config):
    """What every on-policy actor-critic has. Float fields may be arrays (a sweep is a vmap
    over configs); each solver's Config sets its own defaults."""

    lr: float = 3e-4
    """learning rate (linearly annealed to 0 if anneal_lr)."""
    gamma: float = 0.99
    """discount."""
    gae_lambda: float = 0.95
    """GAE λ (1: n-step returns bootstrapped at the rollout's end)."""
    ent_coef: float = 0.0
    """entropy bonus weight."""
    vf_coef: float = 0.5
    """value loss weight."""
    max_grad_norm: float = 0.5
    """gradient-norm clip."""
    reward_scale: float = 1.0
    """rewards are multiplied by this before the advantages."""
    shaping: float = 0.0
    """weight of potential-based shaping with the env's potential (jaxil.envs.shaping);
    for training experts on sparse-reward envs only, metrics report the true reward."""
    num_envs: int = static(16)
    """parallel environments."""
    rollout_steps: int = static(128)
    """steps per env per iteration."""
    hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the actor and critic MLPs."""
    activation: str = static("tanh")
    """activation of both MLPs."""
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
class State:
    """An on-policy actor-critic learner: everything ``update`` needs, nothing about the
    environment (the envs live in :class:`jaxil.rl.onpolicy.TrainState`)."""

    params: chex.ArrayTree  # {"actor": ..., "critic": ...}
    opt_state: optax.OptState
    obs_stats: running_statistics.RunningStatisticsState
    key: jax.Array
    step: jax.Array  # iterations done
    config: Config
    actor: nn.Module = struct.field(pytree_node=False)
    critic: nn.Module = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)  # what rollouts must fit (checked while tracing)


Optimizer = Callable[..., optax.GradientTransformation]  # (learning rate) -> optimizer


def optimizer(config: Config, updates_per_iteration: int, base: Optimizer) -> optax.GradientTransformation:
    """``base`` per network, each with its own gradient-norm clip: a joint clip lets the
    (large) value gradient shrink the policy's steps to nothing."""
    total = config.num_iterations * updates_per_iteration
    lr = optax.linear_schedule(config.lr, 0.0, total) if config.anneal_lr else config.lr
    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), base(lr))
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


def init(key: jax.Array, config: Config, spec: EnvSpec, tx: optax.GradientTransformation) -> State:
    """Actor (a small final layer, so the first policy is near uniform) and critic MLPs."""
    actor = make_actor(spec, config.hidden, config.activation, log_std_init=0.0, out_scale=0.01)
    critic = ValueNet(config.hidden, config.activation)
    k_actor, k_critic, key = jax.random.split(key, 3)
    dummy = jnp.zeros((1, spec.obs_dim))
    params = {"actor": actor.init(k_actor, dummy), "critic": critic.init(k_critic, dummy)}
    return State(
        params=params,
        opt_state=tx.init(params),
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


def observe(state: State, obs: jax.Array) -> State:
    """Fold observations (any leading shape) into the running statistics, if the policy
    standardizes its inputs."""
    if not state.config.normalize_obs:
        return state
    return state.replace(obs_stats=running_statistics.update(state.obs_stats, obs))


def checked_transition(state: State, rollout: onpolicy.Rollout) -> Transition:
    """The rollout's transitions, after checking they are (steps, num_envs) rows of the env
    the learner was made for."""
    t = rollout.transition
    check_batch(t, state.spec, "rollout.transition")
    if jnp.shape(rollout.log_prob) != t.reward.shape or t.reward.ndim != 2:
        raise JaxilError(f"a rollout is (steps, num_envs): transition rewards have shape {t.reward.shape} and "
                         f"log_prob {jnp.shape(rollout.log_prob)}; both must be (steps, num_envs).")
    return t


def advantages(state: State, t: Transition) -> tuple[jax.Array, jax.Array, jax.Array]:
    """V(s) at collection, GAE advantages and return targets of a (steps, num_envs)
    rollout, bootstrapping through truncations and never through terminations."""
    cfg = state.config
    v = value(state, t.obs)
    advantage, target = gae_advantages(
        cfg.reward_scale * t.reward, v, value(state, t.next_obs), t.terminated.astype(jnp.float32),
        (t.terminated | t.truncated).astype(jnp.float32), cfg.gamma, cfg.gae_lambda,
    )
    return v, advantage, target


def make_train(
    config: Config,
    env: Env,
    init_fn: Callable[[jax.Array], State],
    update: Callable[[State, onpolicy.Rollout], tuple[State, dict[str, jax.Array]]],
    reference: Reference | None = None,
    reward_fn: RewardFn | None = None,
) -> Train:
    """The on-policy loop around a solver's ``update``, with the config's potential shaping
    (if any) added to every rollout's rewards."""
    phi = potential(env.spec.name) if not is_static_zero(config.shaping) else None

    def learn(state: State, rollout: onpolicy.Rollout):
        if phi is not None:
            t = rollout.transition
            r = shaped_reward(t.reward, t.obs, t.next_obs, t.terminated, phi, config.shaping, config.gamma)
            rollout = rollout.replace(transition=t.replace(reward=r))
        return update(state, rollout)

    return onpolicy.make_train(config, env, init_learner=init_fn, learn=learn, policy_fn=policy,
                               reference=reference, reward_fn=reward_fn)
