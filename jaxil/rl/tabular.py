"""Exact solvers for tabular MDPs (``jaxil.envs.tabular``): soft and hard value iteration,
occupancy measures, expected returns. Finite horizon H, with imitation's shapes and
conventions (``mce_partition_fh``, ``mce_occupancy_measures``) so results compare one for
one: V[H, S], Q[H, S, A], π[H, S, A] for the H decisions t = 0 … H − 1, and the state
occupancy D[H + 1, S], whose last row is the state reached after the last action.

Everything runs in the dtype of its inputs: build the MDP inside
``with jax.enable_x64(True):`` for float64 answers (exact to ~1e-15); nothing here turns
64-bit mode on globally. All of it is jit- and vmap-able (a batch of MDPs or rewards); the
solvers are jitted themselves, so a call from plain Python runs one compiled program
rather than dispatching its operations one by one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxil.envs.tabular import TabularMDP


def _backward(mdp: TabularMDP, reward: jax.Array | None, discount, backup) -> tuple[jax.Array, jax.Array]:
    """(V[H, S], Q[H, S, A]) by backward induction with ``backup``: Q → V over actions."""
    r = mdp.state_action_reward(reward)
    q_last = r
    v_last = backup(q_last)

    def back(v_next, _):
        q = r + discount * jnp.einsum("sax,x->sa", mdp.transition, v_next)
        v = backup(q)
        return v, (v, q)

    _, (v, q) = jax.lax.scan(back, v_last, None, length=mdp.horizon - 1, reverse=True)
    return jnp.concatenate([v, v_last[None]]), jnp.concatenate([q, q_last[None]])


@jax.jit
def soft_value_iteration(mdp: TabularMDP, reward: jax.Array | None = None,
                         discount: float | jax.Array = 1.0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(V, Q, π) of the maximum-causal-entropy (soft-optimal) policy for ``reward``
    (R[S] or R[S, A]; default the MDP's), temperature 1:

        Q[H−1, s, a] = R(s, a),   Q[t, s, a] = R(s, a) + γ Σ_s' T(s'|s, a) V[t+1, s'],
        V[t, s] = log Σ_a exp Q[t, s, a],   π[t, s, a] = exp(Q[t, s, a] − V[t, s]).
    """
    v, q = _backward(mdp, reward, discount, lambda q: jax.nn.logsumexp(q, axis=-1))
    return v, q, jnp.exp(q - v[..., None])


@jax.jit
def value_iteration(mdp: TabularMDP, reward: jax.Array | None = None,
                    discount: float | jax.Array = 1.0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(V, Q, π) of an optimal policy: the same backup with max in place of log-sum-exp;
    π is greedy (one-hot, ties to the lowest action index)."""
    v, q = _backward(mdp, reward, discount, lambda q: jnp.max(q, axis=-1))
    return v, q, jax.nn.one_hot(jnp.argmax(q, axis=-1), mdp.num_actions, dtype=q.dtype)


@jax.jit
def state_occupancy(mdp: TabularMDP, pi: jax.Array,
                    discount: float | jax.Array = 1.0) -> tuple[jax.Array, jax.Array]:
    """(D[H+1, S], Dcum[S]) of the time-varying policy π[H, S, A]:

        D[0] = p0,   D[t+1, s'] = Σ_{s,a} D[t, s] π[t, s, a] T(s'|s, a),   Dcum = Σ_{t=0}^{H} γ^t D[t].

    Every row of D sums to 1, so Σ Dcum = H + 1 (γ = 1) or (1 − γ^{H+1}) / (1 − γ)."""

    s, a = mdp.num_states, mdp.num_actions
    flat = mdp.transition.reshape(s * a, s)

    def forward(d, pi_t):
        # one matrix-vector product (a three-operand einsum runs ~14x slower on CPU)
        d_next = (d[:, None] * pi_t).reshape(s * a) @ flat
        return d_next, d_next

    _, later = jax.lax.scan(forward, mdp.initial, pi)
    d = jnp.concatenate([mdp.initial[None], later])
    weights = jnp.power(jnp.asarray(discount, d.dtype), jnp.arange(mdp.horizon + 1, dtype=d.dtype))
    return d, jnp.einsum("t,ts->s", weights, d)


@functools.partial(jax.jit, static_argnames="undiscounted_policy")
def occupancy_measures(mdp: TabularMDP, reward: jax.Array | None = None, pi: jax.Array | None = None,
                       discount: float | jax.Array = 1.0,
                       undiscounted_policy: bool = False) -> tuple[jax.Array, jax.Array]:
    """(D, Dcum) of π, by default the soft-optimal policy for ``reward`` at ``discount``.

    ``undiscounted_policy=True`` reproduces imitation's ``mce_occupancy_measures``, which
    solves for the policy at γ = 1 whatever ``discount`` (only Dcum is discounted); the two
    agree at γ = 1."""
    if pi is None:
        pi = soft_value_iteration(mdp, reward, 1.0 if undiscounted_policy else discount)[2]
    return state_occupancy(mdp, pi, discount)


@jax.jit
def expected_return(mdp: TabularMDP, pi: jax.Array, reward: jax.Array | None = None,
                    discount: float | jax.Array = 1.0) -> jax.Array:
    """Exact expected return of π over the H steps: Σ_{t<H} γ^t Σ_{s,a} D[t, s] π[t, s, a] R(s, a)
    (by default the MDP's own reward, undiscounted: what an episode of the env pays)."""
    d, _ = state_occupancy(mdp, pi)
    r = mdp.state_action_reward(reward)
    weights = jnp.power(jnp.asarray(discount, d.dtype), jnp.arange(mdp.horizon, dtype=d.dtype))
    return jnp.einsum("t,ts,tsa,sa->", weights, d[:-1], pi, r)


def uniform_policy(mdp: TabularMDP) -> jax.Array:
    """π[H, S, A] acting uniformly at random (the random reference of normalized scores)."""
    return jnp.full((mdp.horizon, mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions, mdp.transition.dtype)


def sample_trajectories(mdp: TabularMDP, pi: jax.Array, key: jax.Array,
                        num_trajectories: int) -> tuple[jax.Array, jax.Array]:
    """(states[N, H+1], actions[N, H]) of ``num_trajectories`` episodes of the time-varying
    policy π[H, S, A]: demonstrations as state indices (the last state is the one reached
    after the last action)."""

    def episode(k):
        k0, k_run = jax.random.split(k)
        s0 = jax.random.categorical(k0, jnp.log(mdp.initial))

        def act(s, x):
            pi_t, kt = x
            ka, ks = jax.random.split(kt)
            a = jax.random.categorical(ka, jnp.log(pi_t[s]))
            s_next = jax.random.categorical(ks, jnp.log(mdp.transition[s, a]))
            return s_next, (s_next, a)

        _, (later, actions) = jax.lax.scan(act, s0, (pi, jax.random.split(k_run, mdp.horizon)))
        return jnp.concatenate([s0[None], later]).astype(jnp.int32), actions.astype(jnp.int32)

    return jax.vmap(episode)(jax.random.split(key, num_trajectories))
