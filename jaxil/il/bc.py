"""Behavioral cloning (Pomerleau 1991; Bain & Sammut 1995).

Maximum likelihood of expert actions under the policy,

    L(θ) = −E_(s,a)~D [log π_θ(a|s)] − λ_ent · E_s~D H[π_θ(·|s)] + λ_l2 · ‖θ‖²/2,

with a tanh-Gaussian policy for continuous actions and a categorical one for discrete
actions. An l2 weight of about 0.01 keeps BC from overfitting when only ~10 expert
trajectories are available (CleanIL's implementation-tricks note); the entropy bonus
follows ``imitation``'s BC (its estimate for tanh-Gaussians is −log π(ã|s), ã ~ π).
Observations are standardized with statistics of the expert training split, which are
part of the state and of the evaluation policy. Held-out expert transitions give the
action log-likelihood and MAE metrics (for discrete actions the "MAE" is the
mismatch rate of the greedy action).
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import offline
from jaxil import configs
from jaxil.configs import is_static_zero, static
from jaxil.loop import Train
from jaxil.losses import l2_penalty
from jaxil.nets import make_actor
from jaxil.types import Transition, check_batch, check_obs_stats


@struct.dataclass
class Config(offline.Config):
    """Behavioral cloning. Float fields may be arrays (a sweep is a vmap over configs)."""

    lr: float = 2e-3
    """Adam learning rate (peak, if lr_schedule decays it)."""
    l2_weight: float = 0.0
    """weight of ‖θ‖²/2 on all policy parameters."""
    ent_weight: float = 0.0
    """weight of the policy-entropy bonus."""
    lr_schedule: str = static("cosine")
    """"constant", or "cosine" decay to 0 over the run (steadies the final policy)."""
    # BC needs many updates more than big batches: at 20k updates, batch 64 with lr 2e-3
    # matched batch 256 with lr 1e-3 on pendulum and cartpole (8 seeds) in under half the
    # time, while 10k updates left some pendulum seeds far below the expert either way.
    batch_size: int = static(64)
    """expert transitions per update (sampled with replacement)."""
    steps: int = static(20_000)
    eval_every: int = static(2_000)
    eval_episodes: int = static(50)
    eval_deterministic: bool = static(True)
    """evaluate with the policy's mode (else sample actions)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr_schedule not in ("constant", "cosine"):
            raise JaxilError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}.")


@struct.dataclass
class State:
    params: chex.ArrayTree
    opt_state: optax.OptState
    key: jax.Array
    step: jax.Array
    obs_mean: jax.Array
    obs_std: jax.Array
    config: Config
    actor: nn.Module = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)  # what batches must fit (checked while tracing)
    # Which optional loss terms exist in the compiled program, fixed at init: a weight
    # that is a plain 0 there leaves its term out (under jit the weights are tracers).
    with_entropy: bool = struct.field(pytree_node=False, default=True)
    with_l2: bool = struct.field(pytree_node=False, default=True)


def optimizer(config: Config) -> optax.GradientTransformation:
    if config.lr_schedule == "cosine":
        return optax.adam(optax.cosine_decay_schedule(config.lr, config.steps))
    return optax.adam(config.lr)


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "bc.init")
    check_obs_stats(spec, obs_mean, obs_std)
    actor = make_actor(spec, config.hidden, config.activation)
    params = actor.init(key, jnp.zeros((1, spec.obs_dim)))
    return State(
        params=params,
        opt_state=optimizer(config).init(params),
        key=jax.random.fold_in(key, 1),
        step=jnp.zeros((), jnp.int32),
        obs_mean=jnp.asarray(obs_mean, jnp.float32),
        obs_std=jnp.asarray(obs_std, jnp.float32),
        config=config,
        actor=actor,
        spec=spec,
        with_entropy=not is_static_zero(config.ent_weight),
        with_l2=not is_static_zero(config.l2_weight),
    )


def policy(state: State, obs: jax.Array):
    """π(·|s) as a distrax distribution, on raw observations."""
    return state.actor.apply(state.params, (obs - state.obs_mean) / state.obs_std)


def neg_log_likelihood(dist, action: jax.Array) -> jax.Array:
    """−E log π(a_E|s_E) of a batch of expert actions under the policy's distributions."""
    return -jnp.mean(dist.log_prob(action))


def bc_loss(params, state: State, batch: Transition, key: jax.Array):
    """−E log π(a_E|s_E) − λ_ent·H + λ_l2·‖θ‖²/2 on one expert batch."""
    cfg = state.config
    dist = policy(state.replace(params=params), batch.obs)
    neglogp = neg_log_likelihood(dist, batch.action)
    loss, metrics = neglogp, {"neglogp": neglogp}
    if state.with_entropy:
        metrics["entropy"] = jnp.mean(dist.entropy_estimate(key))
        loss = loss - cfg.ent_weight * metrics["entropy"]
    if state.with_l2:
        metrics["l2_norm"] = l2_penalty(params)
        loss = loss + cfg.l2_weight * metrics["l2_norm"]
    return loss, metrics | {"loss": loss}


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """One gradient step of the BC loss on ``batch`` (raw observations)."""
    check_batch(batch, state.spec)
    key, ent_key = jax.random.split(state.key)
    grads, metrics = jax.grad(bc_loss, has_aux=True)(state.params, state, batch, ent_key)
    updates, opt_state = optimizer(state.config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state.replace(params=params, opt_state=opt_state, key=key, step=state.step + 1), metrics


def clone(
    key: jax.Array,
    params: chex.ArrayTree,
    policy_fn: Callable[[chex.ArrayTree, jax.Array], Any],
    data: Transition,
    steps: int,
    batch_size: int,
    lr: jax.Array | float,
) -> tuple[chex.ArrayTree, jax.Array]:
    """``steps`` Adam steps of −E log π(a_E|s_E) on another learner's policy parameters
    (``policy_fn(params, obs) -> distribution``), on uniform batches of ``data``, the
    learning rate decaying from ``lr`` to 0 on BC's cosine schedule: a BC warm start (e.g.
    GAIL's generator). Returns the parameters and the loss per step."""
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

    def step(carry, k):
        params, opt_state = carry
        batch = sample(k, data, batch_size)
        loss, grads = jax.value_and_grad(lambda p: neg_log_likelihood(policy_fn(p, batch.obs), batch.action))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params, losses


def split_key(state: State) -> tuple[State, jax.Array]:
    key, k = jax.random.split(state.key)
    return state.replace(key=key), k


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` updates on ``data``, evaluated
    on ``env`` every ``config.eval_every`` updates."""
    configs.check_type(config, Config, "bc.make_train")
    offline.check_expert_data(data, env, "BC")
    return offline.make_train(
        config, data, env, reference,
        init=lambda key: init(key, config, env.spec, data.obs_mean, data.obs_std),
        update=update,
        policy=policy,
        split_key=split_key,
        deterministic=config.eval_deterministic,
    )
