"""How close a learned reward is to another: the EPIC pseudometric (Gleave et al. 2021,
"Quantifying differences in reward functions").

Rewards that differ by potential shaping, a positive scale or a constant induce the same
optimal policies, so comparing them value by value says little. EPIC first canonicalizes
each reward under distributions D_S over states and D_A over actions,

    C(R)(s, a, s′) = R(s, a, s′) + E[γ R(s′, A, S′) − R(s, A, S′) − γ R(S, A, S′)],
                     S, S′ ∼ D_S, A ∼ D_A independent,

which removes any potential shaping γΦ(s′) − Φ(s) and constant, then takes the Pearson
distance between the canonical rewards over a coverage distribution D of transitions:

    D_EPIC(R_a, R_b) = √((1 − ρ(C(R_a), C(R_b))) / 2)  ∈ [0, 1],

0 for rewards equivalent up to shaping and positive scale, 1 for a reward and its
negation. On a tabular MDP every expectation is an exact sum (``epic_tabular``); elsewhere
they are sample means (``epic_sampled``), over coverage transitions and over states and
actions drawn from D_S and D_A, whose sizes the caller chooses and reports. Everything is
jit- and vmap-able (a batch of learned rewards, one per seed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs.core import random_action
from jaxil.envs.rewards import pendulum
from jaxil.errors import JaxilError
from jaxil.types import RewardFn, Transition


def pearson_distance(x: jax.Array, y: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """√((1 − ρ)/2) of the (``weights``-weighted) Pearson correlation ρ of x and y."""
    w = jnp.ones_like(x) if weights is None else weights
    w = w / jnp.sum(w)
    xc, yc = x - jnp.sum(w * x), y - jnp.sum(w * y)
    rho = jnp.sum(w * xc * yc) / jnp.sqrt(jnp.sum(w * xc**2) * jnp.sum(w * yc**2))
    return jnp.sqrt(jnp.clip((1.0 - rho) / 2.0, 0.0, 1.0))


# ----------------------------------------------------------------------------------------
# Tabular: rewards as arrays, every expectation an exact sum.

def reward_tensor(reward: jax.Array, num_states: int, num_actions: int) -> jax.Array:
    """R[S] (of the state acted in), R[S, A] or R[S, A, S′] as R[S, A, S′]."""
    shape = (num_states, num_actions, num_states)
    if reward.shape == shape[:1]:
        return jnp.broadcast_to(reward[:, None, None], shape)
    if reward.shape == shape[:2]:
        return jnp.broadcast_to(reward[:, :, None], shape)
    if reward.shape == shape:
        return reward
    raise JaxilError(f"a tabular reward is R[S], R[S, A] or R[S, A, S'] with S = {num_states}, A = {num_actions}; "
                     f"got shape {reward.shape}.")


def canonicalize_tabular(reward: jax.Array, state_dist: jax.Array, action_dist: jax.Array,
                         gamma: float | jax.Array) -> jax.Array:
    """C(R)[s, a, s′] for R[S, A, S′] under D_S = ``state_dist`` and D_A = ``action_dist``."""
    # m[x] = E_{A, S′} R(x, A, S′); its mean over S ∼ D_S is the constant term
    m = jnp.einsum("xay,a,y->x", reward, action_dist, state_dist)
    return reward + gamma * m[None, None, :] - m[:, None, None] - gamma * jnp.dot(state_dist, m)


def epic_tabular(reward_a: jax.Array, reward_b: jax.Array, coverage: jax.Array, state_dist: jax.Array,
                 action_dist: jax.Array, gamma: float | jax.Array) -> jax.Array:
    """Exact EPIC distance between two rewards R[S], R[S, A] or R[S, A, S′] of one MDP, with
    ``coverage`` the weights of D over (s, a, s′) (S, A, S′) and D_S, D_A as given."""
    s, a = state_dist.shape[0], action_dist.shape[0]
    if coverage.shape != (s, a, s):
        raise JaxilError(f"the coverage distribution weighs every (s, a, s'): shape {(s, a, s)}, got {coverage.shape}.")
    ca, cb = (canonicalize_tabular(reward_tensor(r, s, a), state_dist, action_dist, gamma) for r in (reward_a, reward_b))
    return pearson_distance(ca.reshape(-1), cb.reshape(-1), coverage.reshape(-1))


def transition_coverage(transition: jax.Array, state_dist: jax.Array, action_dist: jax.Array) -> jax.Array:
    """D(s, a, s′) = D_S(s) D_A(a) T(s′|s, a): the transitions the MDP makes from D_S under
    D_A (with uniform D_S and D_A, EPIC's usual coverage of a tabular MDP)."""
    return state_dist[:, None, None] * action_dist[None, :, None] * transition


# ----------------------------------------------------------------------------------------
# Sampled: rewards as functions reward_fn(obs, action, next_obs, terminated) -> (B,).

def canonicalize_sampled(reward_fn: RewardFn, batch: Transition, states: jax.Array, actions: jax.Array,
                         gamma: float | jax.Array) -> jax.Array:
    """C(R) on the ``batch`` transitions (B rows), each expectation a mean over the M draws
    ``states`` (M, obs_dim) ∼ D_S and ``actions`` (M, ...) ∼ D_A (the pair (A, S′) is
    (actions[m], states[m]); the S of the constant term runs over ``states`` too)."""
    m = states.shape[0]
    if actions.shape[0] != m:
        raise JaxilError(f"canonicalization draws M states and M actions; got {m} states and {actions.shape[0]} actions.")
    not_done = jnp.zeros(m, bool)

    def mean_from(x: jax.Array) -> jax.Array:  # E_{A, S′} R(x, A, S′) for one state x
        return jnp.mean(reward_fn(jnp.broadcast_to(x, states.shape), actions, states, not_done))

    r = reward_fn(batch.obs, batch.action, batch.next_obs, jnp.zeros(batch.obs.shape[0], bool))
    return (r + gamma * jax.lax.map(mean_from, batch.next_obs) - jax.lax.map(mean_from, batch.obs)
            - gamma * jnp.mean(jax.lax.map(mean_from, states)))


def epic_sampled(reward_a: RewardFn, reward_b: RewardFn, batch: Transition, states: jax.Array, actions: jax.Array,
                 gamma: float | jax.Array) -> jax.Array:
    """EPIC distance estimated on coverage transitions ``batch`` with canonicalization draws
    ``states`` ∼ D_S and ``actions`` ∼ D_A (cost: (2B + M) · M reward evaluations each)."""
    ca = canonicalize_sampled(reward_a, batch, states, actions, gamma)
    cb = canonicalize_sampled(reward_b, batch, states, actions, gamma)
    return pearson_distance(ca, cb)


# ----------------------------------------------------------------------------------------
# A learned reward against an env's true one.

def tabular_tensor(reward_fn: RewardFn, observation: jax.Array, num_actions: int) -> jax.Array:
    """R[S, A, S′] of a reward function on a tabular MDP's observations (every triple)."""
    s = observation.shape[0]
    i, a, j = (x.reshape(-1) for x in jnp.meshgrid(jnp.arange(s), jnp.arange(num_actions), jnp.arange(s),
                                                      indexing="ij"))
    r = reward_fn(observation[i], a, observation[j], jnp.zeros(i.shape, bool))
    return jnp.broadcast_to(r, i.shape).reshape(s, num_actions, s)


def epic_to_true_tabular(reward_fn: RewardFn, mdp, gamma: float | jax.Array) -> jax.Array:
    """Exact EPIC between a learned reward and a tabular MDP's own, with D_S and D_A uniform
    and the transitions the MDP makes from them as the coverage (every reachable (s, a, s′))."""
    s, a = mdp.num_states, mdp.num_actions
    d_s, d_a = jnp.full(s, 1.0 / s), jnp.full(a, 1.0 / a)
    learned = tabular_tensor(reward_fn, mdp.observation, a)
    return epic_tabular(learned, mdp.reward, transition_coverage(mdp.transition, d_s, d_a), d_s, d_a, gamma)


COVERAGE_ACTIONS = ("uniform", "data")


def coverage_samples(key: jax.Array, rows: Transition, num: int, spec, actions: str = "uniform"
                     ) -> tuple[Transition, jax.Array, jax.Array]:
    """(coverage transitions, D_S states, D_A actions), ``num`` of each: transitions and
    states drawn from ``rows`` (e.g. the expert data), actions uniform over the env's action
    space or drawn from ``rows`` (``actions="data"``)."""
    if actions not in COVERAGE_ACTIONS:
        raise JaxilError(f"canonicalization actions are one of {COVERAGE_ACTIONS}, got {actions!r}.")
    k_batch, k_states, k_actions = jax.random.split(key, 3)
    pick = lambda k: jax.random.randint(k, (num,), 0, rows.reward.shape[0])  # noqa: E731
    batch = jax.tree.map(lambda x: x[pick(k_batch)], rows)
    states = rows.obs[pick(k_states)]
    if actions == "data":
        acts = rows.action[pick(k_actions)]
    else:
        acts = jax.vmap(lambda k: random_action(k, spec))(jax.random.split(k_actions, num))
    return batch, states, acts


def pendulum_grid(reward_fn: RewardFn, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(θ, θ̇, learned (n, n), true (n, n)) on a grid of pendulum states, the torque 0 (s′ = s),
    for drawing a learned reward beside the true one (plots.plot_rewards' ``grid``)."""

    theta, theta_dot = np.linspace(-np.pi, np.pi, n), np.linspace(-8.0, 8.0, n)
    th, thd = (x.reshape(-1) for x in np.meshgrid(theta, theta_dot))
    obs = jnp.asarray(np.stack([np.cos(th), np.sin(th), thd], -1), jnp.float32)
    zero, done = jnp.zeros((obs.shape[0], 1)), jnp.zeros(obs.shape[0], bool)
    learned, true = (np.asarray(f(obs, zero, obs, done)).reshape(n, n) for f in (reward_fn, pendulum))
    return theta, theta_dot, learned, true


def tabular_grid(learned: jax.Array, true: jax.Array, observation: jax.Array
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(column, row, learned (rows, cols), true (rows, cols)) of per-state rewards of a gridworld
    whose observations are its cells' (col, row) scaled to [0, 1] (CliffWorld's ``xy_obs``), for
    heat maps; None where the observations are no such grid (one-hot, random features)."""
    obs = np.asarray(observation)
    if obs.ndim != 2 or obs.shape[1] != 2:
        return None
    cols, rows = (np.unique(obs[:, i]) for i in (0, 1))
    if len(cols) * len(rows) != obs.shape[0] or len(cols) < 2 or len(rows) < 2:
        return None
    c = np.rint(obs[:, 0] * (len(cols) - 1)).astype(int)
    r = np.rint(obs[:, 1] * (len(rows) - 1)).astype(int)
    grids = []
    for values in (learned, true):
        g = np.full((len(rows), len(cols)), np.nan)
        g[r, c] = np.asarray(values)
        grids.append(g)
    return np.arange(len(cols)), np.arange(len(rows)), grids[0], grids[1]
