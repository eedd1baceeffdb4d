"""Apprenticeship learning via inverse reinforcement learning (Abbeel & Ng 2004), the
projection method, with the RL solver inside the compiled loop.

The reward is linear in features of the state, r(s) = w·φ(s), so a policy's value is
w·μ(π) with its feature expectations μ(π) = E[Σ_t γ^t φ(s_t)]. Matching the expert's
μ_E then matches its value under every such reward. Starting from a random policy π_0
(μ̄_0 = μ_0), each iteration i = 1, 2, …

    w_i = μ_E − μ̄_{i−1},  margin t_i = ‖w_i‖₂   (stop when t_i ≤ ε)
    π_i = an RL solver run to completion on r(s) = (w_i / ‖w_i‖)·φ(s), μ_i = μ(π_i)
    μ̄_i = μ̄_{i−1} + α_i (μ_i − μ̄_{i−1}),  α_i = (μ_i − μ̄_{i−1})·(μ_E − μ̄_{i−1}) / ‖μ_i − μ̄_{i−1}‖²

μ̄_i is the orthogonal projection of μ_E onto the segment from μ̄_{i−1} to μ_i (α clipped
to [0, 1], which keeps the margin non-increasing); it is the feature expectation of a
mixture of π_0 … π_i, whose weights follow the same α's. The result is that mixture: an
episode picks one member by its weight and acts with it throughout (how it is evaluated
here). ``policy(state, obs)`` is the single member whose μ is closest to μ_E (the paper's
other way out, a stationary policy).

Features: ilpyt's φ(s) = sigmoid(s) by default, the raw observation, or any map the caller
passes to :func:`make_train`. μ_E comes from the demonstrations' whole episodes; each
policy's μ from ``feature_episodes`` deterministic episodes. One outer iteration is one
step of the loop (its chunks, progress, checkpoints); ``steps`` counts outer iterations.
``update(state, (policy parameters, μ))`` is the projection step alone, importable on its own.
The max-margin variant (a quadratic program per iteration) is not implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data.datasets import ExpertData, in_order
from jaxil.envs.core import Env, EnvSpec
from jaxil.envs.rollout import first_episode_mask, rollout
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference, episode_returns, normalized_score
from jaxil.il.offline import check_expert_data
from jaxil.loop import Train
from jaxil.rl import a2c, dqn, ppo, solvers
from jaxil.types import RewardFn

SOLVERS = ("a2c", "ppo", "dqn")
FEATURES: dict[str, Callable[[jax.Array], jax.Array]] = {"sigmoid": jax.nn.sigmoid, "identity": lambda s: s}
FeatureMap = Callable[[jax.Array], jax.Array]  # observations (..., obs_dim) -> features (..., k)


@struct.dataclass
class Config(configs.Config):
    """Apprenticeship learning (projection). Float fields may be arrays (a sweep is a vmap
    over configs)."""

    gamma: float = 0.99
    """discount of the feature expectations and of the inner solver's return (the paper's one
    γ: μ is discounted as the solver's objective is). ilpyt's 0.9 looks about 10 steps ahead,
    where a random cartpole policy's μ is within 0.16 of the expert's (measured while writing
    this): the margin then says nothing about balancing for long."""
    epsilon: float = 0.1
    """stop once the margin ‖μ_E − μ̄‖₂ is at most this."""
    features: str = static("sigmoid")
    """φ(s): "sigmoid" (ilpyt's) or "identity" of the observation (make_train takes any map)."""
    invert_reward: bool = static(False)
    """train the solver on −w·φ (ilpyt's MountainCar note); the projection is unchanged."""
    solver: str = static("a2c")
    """the inner RL solver: "a2c", "ppo" (on-policy) or "dqn" (discrete actions)."""
    solver_steps: int = static(120_000)
    """env steps of each inner solver run (from scratch)."""
    solver_lr: float = 7e-4
    """the inner solver's learning rate."""
    num_envs: int = static(8)
    """the on-policy solvers' parallel envs."""
    rollout_steps: int = static(5)
    """the on-policy solvers' steps per env per update."""
    hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of the solver's networks."""
    feature_episodes: int = static(20)
    """episodes estimating each policy's feature expectations."""
    steps: int = static(10)
    """outer iterations (each trains one solver to completion); the mixture holds steps + 1 policies."""
    eval_every: int = static(1)
    """outer iterations between evaluations of the mixture."""
    eval_episodes: int = static(20)
    """evaluation episodes of the mixture (and of the closest member), run in parallel."""
    policy_buffer: int = static(0)
    """policies the state keeps (0: steps + 1, all of them)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.solver not in SOLVERS:
            raise JaxilError(f"solver must be one of {SOLVERS} (--solver), got {self.solver!r}.")
        if self.features not in FEATURES:
            raise JaxilError(f"features must be one of {tuple(FEATURES)} (--features), got {self.features!r}; "
                             "from Python, make_train(..., features=fn) takes any map.")
        if self.policy_buffer and self.policy_buffer < self.steps + 1:
            raise JaxilError(f"AppL keeps every policy of its mixture: {self.steps} iterations make {self.steps + 1} "
                             f"policies, which do not fit policy_buffer {self.policy_buffer}; raise --policy-buffer "
                             f"or lower --steps.")
        if self.steps % self.eval_every:
            raise JaxilError(f"steps ({self.steps}) must be a multiple of eval_every ({self.eval_every}).")
        self.solver_config(discrete=self.solver == "dqn")  # the solver's own checks

    @property
    def num_policies(self) -> int:
        return self.policy_buffer or self.steps + 1

    def solver_config(self, discrete: bool) -> a2c.Config | ppo.Config | dqn.Config:
        del discrete  # every solver here takes the same fields
        common = dict(lr=self.solver_lr, gamma=self.gamma, hidden=self.hidden, steps=self.solver_steps,
                      eval_every=self.solver_steps, eval_episodes=1)
        if self.solver == "dqn":
            return dqn.Config(**common)
        module = a2c if self.solver == "a2c" else ppo
        return module.Config(num_envs=self.num_envs, rollout_steps=self.rollout_steps, **common)


@struct.dataclass
class State:
    """The mixture so far and where the projection stands."""

    policies: Any  # the solver's acting parameters of each policy, stacked (num_policies, ...)
    mu: jax.Array  # (num_policies, k) each policy's feature expectations
    weights: jax.Array  # (num_policies,) the mixture's weights
    mu_bar: jax.Array  # (k,) the mixture's feature expectations
    mu_expert: jax.Array  # (k,)
    count: jax.Array  # policies in the mixture
    solver_return: jax.Array  # the true return of the last solver run (its final evaluation; 0 before any)
    key: jax.Array
    config: Config
    template: Any  # a solver state that acting parameters are put into
    features: FeatureMap = struct.field(pytree_node=False)

    @property
    def w(self) -> jax.Array:
        """The next reward direction μ_E − μ̄."""
        return self.mu_expert - self.mu_bar

    @property
    def margin(self) -> jax.Array:
        return jnp.linalg.norm(self.w)

    @property
    def converged(self) -> jax.Array:
        return self.margin <= self.config.epsilon


def projection_step(mu_bar: jax.Array, mu_new: jax.Array, mu_expert: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(μ̄', α): μ_E projected onto the segment from μ̄ to μ_new, α ∈ [0, 1] the step along it."""
    d = mu_new - mu_bar
    alpha = jnp.clip(jnp.dot(d, mu_expert - mu_bar) / jnp.maximum(jnp.dot(d, d), 1e-12), 0.0, 1.0)
    return mu_bar + alpha * d, alpha


def discounted_features(phi: jax.Array, done: jax.Array, gamma: float | jax.Array) -> jax.Array:
    """Σ_t γ^t φ(s_t) per episode, averaged over the episodes of rows in order (N, k) whose
    ``done`` (N,) marks each episode's last row (an unmarked last row ends one too)."""
    start = jnp.concatenate([jnp.ones((1,), bool), done[:-1]])

    def step(t, is_start):
        t = jnp.where(is_start, 0, t + 1)
        return t, t

    _, t = jax.lax.scan(step, jnp.asarray(-1), start)
    return jnp.sum(gamma ** t[:, None] * phi, axis=0) / jnp.sum(start)


def expert_feature_expectations(data: ExpertData, features: FeatureMap, gamma: float | jax.Array) -> jax.Array:
    """μ_E over the demonstrations' whole episodes (training and held-out rows, in order)."""
    rows = in_order(data, heldout=True)
    return discounted_features(features(rows.obs), rows.terminated | rows.truncated, gamma)


def policy_feature_expectations(env: Env, act, key: jax.Array, episodes: int, features: FeatureMap,
                                gamma: float | jax.Array) -> jax.Array:
    """μ(π) from ``episodes`` episodes of ``act(obs, key)`` run in parallel (each env's
    first episode, which starts at t = 0)."""
    traj = rollout(env, act, key, episodes, env.spec.max_episode_steps)
    mask = first_episode_mask(traj)
    discount = gamma ** jnp.arange(mask.shape[0], dtype=jnp.float32)[:, None, None]
    return jnp.sum(jnp.where(mask[..., None], discount * features(traj.obs), 0.0), axis=0).mean(0)


def checked_features(features: FeatureMap, spec: EnvSpec) -> FeatureMap:
    """``features``, after checking it maps observations to one fixed width whatever the
    batch shape (a linear reward needs one weight per feature)."""
    batches = ((), (1,), (3,), (2, 5))
    out = [jax.eval_shape(features, jax.ShapeDtypeStruct(b + (spec.obs_dim,), jnp.float32)).shape for b in batches]
    widths = {shape[-1:] for shape in out}
    if len(widths) != 1 or any(shape[:-1] != b for shape, b in zip(out, batches)):
        raise JaxilError(f"the feature map must give one feature vector of a fixed width per observation (..., "
                         f"{spec.obs_dim}) -> (..., k); its output width changes with the input ({sorted(widths)}).")
    return features


def solver_module(config: Config) -> ModuleType:
    return solvers.solver(config.solver, SOLVERS)


def init(key: jax.Array, config: Config, spec: EnvSpec, mu_expert: jax.Array,
         features: FeatureMap | None = None) -> State:
    """An empty mixture aiming at the expert's feature expectations ``mu_expert`` (k,): room
    for ``config.num_policies`` policies, each added by :func:`update`."""
    configs.check_type(config, Config, "appl.init")
    solver = solver_module(config)
    template = solver.init(key, config.solver_config(spec.discrete), spec)  # the shapes acting parameters fill
    params = solver.acting_params(template)
    n = config.num_policies
    policies = jax.tree.map(lambda x: jnp.zeros((n,) + jnp.shape(x), jnp.result_type(x)), params)
    return State(policies, jnp.zeros((n,) + mu_expert.shape), jnp.zeros(n), jnp.zeros_like(mu_expert), mu_expert,
                 jnp.zeros((), jnp.int32), jnp.zeros(()), key, config, template,
                 checked_features(features or FEATURES[config.features], spec))


def update(state: State, batch: tuple[Any, jax.Array]) -> tuple[State, dict[str, jax.Array]]:
    """Add a policy to the mixture: ``batch = (acting parameters, its feature expectations
    μ_i)``; the projection step moves μ̄ towards μ_E by α along μ_i − μ̄ and re-weights the
    mixture by the same α (the first policy takes all the weight)."""
    params, mu_i = batch
    if jnp.shape(mu_i) != state.mu_expert.shape:
        raise JaxilError(f"a policy's feature expectations have the expert's shape {state.mu_expert.shape}; "
                         f"got {jnp.shape(mu_i)}.")
    i = state.count
    mu_bar, alpha = projection_step(state.mu_bar, mu_i, state.mu_expert)
    first = i == 0
    mu_bar, alpha = jnp.where(first, mu_i, mu_bar), jnp.where(first, 1.0, alpha)
    new = state.replace(
        policies=jax.tree.map(lambda buf, x: buf.at[i].set(x), state.policies, params),
        mu=state.mu.at[i].set(mu_i), weights=((1.0 - alpha) * state.weights).at[i].set(alpha),
        mu_bar=mu_bar, count=i + 1,
    )
    return new, {"alpha": alpha, "margin": new.margin}


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None,
               features: FeatureMap | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` outer iterations of the projection
    method on ``env`` against the demonstrations ``data``; each evaluation scores the mixture
    (``eval_return``, ``normalized_score``) and its member closest to μ_E (``closest_*``)."""
    configs.check_type(config, Config, "appl.make_train")
    spec = env.spec
    if config.solver == "dqn" and not spec.discrete:
        raise JaxilError(f"DQN needs discrete actions; env {spec.name!r} is continuous (--solver a2c or ppo).")
    check_expert_data(data, env, "AppL")
    phi = checked_features(features or FEATURES[config.features], spec)
    solver, solver_cfg = solver_module(config), config.solver_config(spec.discrete)
    sign = -1.0 if config.invert_reward else 1.0

    def act(state: State, params):
        def act_fn(obs, key):  # deterministic: the mode
            return solver.policy(solver.with_acting_params(state.template, params), obs).mode()
        return act_fn

    def mu_of(state: State, params, key: jax.Array) -> jax.Array:
        return policy_feature_expectations(env, act(state, params), key, config.feature_episodes, phi, config.gamma)

    def init_fn(key: jax.Array) -> State:
        k_init, k_pi, k_mu, key = jax.random.split(key, 4)
        state = init(k_init, config, spec, expert_feature_expectations(data, phi, config.gamma), phi)
        params = solver.acting_params(solver.init(k_pi, solver_cfg, spec))  # π_0: an untrained policy
        state, _ = update(state, (params, mu_of(state, params, k_mu)))
        return state.replace(key=key)

    def iterate(state: State) -> tuple[State, dict]:
        key, k_solve, k_mu = jax.random.split(state.key, 3)
        w_hat = state.w / jnp.maximum(state.margin, 1e-12)
        reward_fn = lambda obs, action, next_obs, terminated: sign * phi(obs) @ w_hat  # noqa: E731
        inner = solver.make_train(solver_cfg, env, reference, reward_fn)  # a fresh solver, run to completion
        solved, solver_metrics = inner(k_solve)
        params = solver.acting_params(inner.learner(solved))
        state, metrics = update(state, (params, mu_of(state, params, k_mu)))
        return state.replace(solver_return=solver_metrics["eval_return"][-1], key=key), {"alpha": metrics["alpha"]}

    def step(state: State) -> tuple[State, dict]:
        # once the margin is within ε (or the buffer is full) the mixture is final (under vmap
        # both branches run, and each seed keeps the one its own state picks)
        stop = state.converged | (state.count >= config.num_policies)
        state, metrics = jax.lax.cond(stop, lambda s: (s.replace(), {"alpha": jnp.zeros(())}), iterate, state)
        return state, metrics | {"margin": state.margin, "policies": state.count.astype(jnp.float32),
                                 "solver_return": state.solver_return,
                                 "converged": state.converged.astype(jnp.float32)}

    def evaluate(state: State, key: jax.Array) -> dict:
        k_pick, k_mix, k_best = jax.random.split(key, 3)
        members = jax.random.categorical(k_pick, jnp.log(state.weights), shape=(config.eval_episodes,))

        def member_episode(m, k):  # an episode acts with one member throughout
            params = jax.tree.map(lambda x: x[m], state.policies)
            return episode_returns(env, act(state, params), k, 1)[0][0]

        mix = jax.vmap(member_episode)(members, jax.random.split(k_mix, config.eval_episodes))
        best = jax.tree.map(lambda x: x[closest_member(state)], state.policies)
        best_rets, _ = episode_returns(env, act(state, best), k_best, config.eval_episodes)
        out = {"eval_return": jnp.mean(mix), "closest_return": jnp.mean(best_rets)}
        if reference is not None:
            out |= {"normalized_score": normalized_score(out["eval_return"], *reference),
                    "closest_normalized_score": normalized_score(out["closest_return"], *reference)}
        return out

    return Train(init=init_fn, step=step, evaluate=evaluate, num_chunks=config.steps // config.eval_every,
                 steps_per_chunk=config.eval_every)


def closest_member(state: State) -> jax.Array:
    """The index of the policy (in the mixture) whose μ is closest to μ_E."""
    dist = jnp.linalg.norm(state.mu - state.mu_expert, axis=-1)
    return jnp.argmin(jnp.where(jnp.arange(state.mu.shape[0]) < state.count, dist, jnp.inf))


def policy(state: State, obs: jax.Array):
    """π(·|s) of the member closest to μ_E (the mixture itself is not a stationary policy)."""
    solver = solver_module(state.config)
    params = jax.tree.map(lambda x: x[closest_member(state)], state.policies)
    return solver.policy(solver.with_acting_params(state.template, params), obs)


def learned_reward(state: State) -> RewardFn:
    """r(s) = ŵ·φ(s), ŵ = (μ_E − μ̄)/‖μ_E − μ̄‖: the direction the next solver would be
    trained on (the last one the mixture's values still differ along)."""
    w_hat = state.w / jnp.maximum(state.margin, 1e-12)
    return lambda obs, action, next_obs, terminated: state.features(obs) @ w_hat
