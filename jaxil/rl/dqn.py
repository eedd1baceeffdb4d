"""Deep Q-networks (Mnih et al. 2015) with a double-Q target (van Hasselt et al. 2016),
env in the loop: the discrete-action solver (and SQIL's discrete variant).

    target:  y = r + γ (1 − term) Q̄(s', argmax_a' Q(s', a'))
    loss:    L = E huber(Q(s, a) − y)         (δ = 1)
    acting:  ε-greedy, ε decaying linearly from ``eps_start`` to ``eps_end`` over the
             first ``eps_decay`` of the steps; evaluation is greedy
    target:  Q̄ ← Q every ``target_update_every`` updates

``update(state, batch)`` is importable on its own; the loop is :mod:`jaxil.rl.offpolicy`'s.
"""

from __future__ import annotations

import chex
import distrax
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.losses import td_target
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.nets import MLP
from jaxil.rl import offpolicy
from jaxil.types import RewardFn, Transition, check_batch

MAXIMUM_ENTROPY = False
"""DQN maximizes the return alone (ε-greedy exploration adds no entropy term)."""


@struct.dataclass
class Config(offpolicy.LoopConfig):
    """DQN. Float fields may be arrays (a sweep is a vmap over configs). The loop's sizes
    come from :class:`offpolicy.LoopConfig`; evaluation is greedy."""

    lr: float = 2.5e-4
    """Adam learning rate."""
    gamma: float = 0.99
    """discount."""
    eps_start: float = 1.0
    """initial exploration rate."""
    eps_end: float = 0.05
    """final exploration rate."""
    eps_decay: float = 0.25
    """fraction of the run over which ε decays."""
    max_grad_norm: float = 10.0
    """global gradient-norm clip."""
    target_update_every: int = static(500)
    """updates between hard target-network copies."""
    hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the Q-network."""
    activation: str = static("relu")
    """activation of the Q-network."""
    batch_size: int = static(128)
    """transitions per update."""
    buffer_size: int = static(50_000)
    warmup_steps: int = static(1_000)
    steps: int = static(100_000)
    eval_episodes: int = static(20)

    def __post_init__(self) -> None:
        super().__post_init__()
        offpolicy.check_config(self, self.batch_size)


@struct.dataclass
class State:
    params: chex.ArrayTree
    target_params: chex.ArrayTree
    opt: optax.OptState
    key: jax.Array
    step: jax.Array  # updates done
    config: Config
    net: MLP = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)  # what batches must fit (checked while tracing)


def optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "dqn.init")
    if not spec.discrete:
        raise JaxilError(f"DQN is for discrete actions; env {spec.name!r} is continuous (use SAC).")
    net = MLP(config.hidden, spec.num_actions, config.activation)
    k_net, key = jax.random.split(key)
    params = net.init(k_net, jnp.zeros((1, spec.obs_dim)))
    return State(params, params, optimizer(config).init(params), key, jnp.zeros((), jnp.int32), config, net, spec)


def acting_params(state: State) -> dict:
    """What acting reads, and so what a saved policy stores: the Q-network's weights."""
    return {"q": state.params}


def with_acting_params(state: State, params: dict) -> State:
    return state.replace(params=params["q"])


def q_values(state: State, params, obs: jax.Array) -> jax.Array:
    """Q(s, ·), shape (B, num_actions)."""
    return state.net.apply(params, obs)


def epsilon(state: State) -> jax.Array:
    """ε after ``state.step`` updates: linear from eps_start to eps_end, then flat."""
    cfg = state.config
    decay_updates = jnp.maximum(cfg.eps_decay * cfg.steps // cfg.num_envs * cfg.updates_per_step, 1.0)
    frac = jnp.minimum(state.step / decay_updates, 1.0)
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def policy(state: State, obs: jax.Array) -> distrax.EpsilonGreedy:
    """ε-greedy over Q(s, ·); its mode is the greedy action."""
    return distrax.EpsilonGreedy(q_values(state, state.params, obs), epsilon(state), dtype=jnp.int32)


def double_q_target(state: State, batch: Transition) -> jax.Array:
    """y = r + γ (1 − term) Q̄(s', argmax_a' Q(s', a'))."""
    next_action = jnp.argmax(q_values(state, state.params, batch.next_obs), axis=-1)
    next_q = jnp.take_along_axis(q_values(state, state.target_params, batch.next_obs), next_action[:, None], -1)[:, 0]
    return td_target(batch.reward, next_q, batch.terminated, state.config.gamma)


def q_loss(params, state: State, batch: Transition, target: jax.Array):
    """E huber(Q(s, a) − y), δ = 1."""
    q = jnp.take_along_axis(q_values(state, params, batch.obs), batch.action[:, None].astype(jnp.int32), -1)[:, 0]
    loss = jnp.mean(optax.huber_loss(q, jax.lax.stop_gradient(target), delta=1.0))
    return loss, {"q_loss": loss, "q_mean": jnp.mean(q)}


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """One Q step on ``batch``, then the periodic hard target copy."""
    check_batch(batch, state.spec)
    grads, metrics = jax.grad(q_loss, has_aux=True)(state.params, state, batch, double_q_target(state, batch))
    updates, opt = optimizer(state.config).update(grads, state.opt, state.params)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    copy = step % state.config.target_update_every == 0
    target = jax.tree.map(lambda t, p: jnp.where(copy, p, t), state.target_params, params)
    return state.replace(params=params, target_params=target, opt=opt, step=step), metrics | {"epsilon": epsilon(state)}


def make_train(
    config: Config, env: Env, reference: Reference | None = None, reward_fn: RewardFn | None = None
) -> Train:
    """``train(key) -> (state, metrics)``: warm-up, then ``config.steps`` DQN steps. With
    ``reward_fn``, every sampled batch is relabeled by it (the env keeps its reward)."""
    configs.check_type(config, Config, "dqn.make_train")
    return offpolicy.solver_train(config, env, init=init, update=update, policy=policy, reference=reference,
                                  reward_fn=reward_fn)
