"""Shared math against hand computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil.envs.shaping import mountaincar_energy, shaped_reward
from jaxil.losses import gae_advantages, td_target


def gae_reference(r, v, v_next, term, done, gamma, lam):
    adv, running = np.zeros_like(r), 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (1 - term[t]) * v_next[t] - v[t]
        running = delta + gamma * lam * (1 - done[t]) * running
        adv[t] = running
    return adv


def test_gae_matches_python_loop_with_terminated_and_truncated():
    rng = np.random.default_rng(0)
    T = 12
    r, v, v_next = rng.normal(size=T), rng.normal(size=T), rng.normal(size=T)
    term = np.zeros(T); term[3] = 1
    trunc = np.zeros(T); trunc[8] = 1
    done = np.maximum(term, trunc)
    adv, ret = gae_advantages(*map(jnp.asarray, (r, v, v_next, term, done)), 0.9, 0.8)
    expected = gae_reference(r, v, v_next, term, done, 0.9, 0.8)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ret, expected + v, rtol=1e-5, atol=1e-6)
    # truncation bootstraps from V(s'), termination does not
    np.testing.assert_allclose(adv[8], r[8] + 0.9 * v_next[8] - v[8], rtol=1e-5)
    np.testing.assert_allclose(adv[3], r[3] - v[3], rtol=1e-5)


def test_td_target_masks_only_termination():
    y = td_target(jnp.array([1.0, 1.0]), jnp.array([10.0, 10.0]), jnp.array([True, False]), 0.5)
    np.testing.assert_allclose(y, [1.0, 6.0])


def test_td_target_absorbing_state_keeps_paying_the_terminal_reward():
    """A terminal row's target is r + γr + γ²r + … = r/(1 − γ); other rows are unchanged."""
    r, v, d = jnp.array([-2.0, 1.0]), jnp.array([10.0, 10.0]), jnp.array([True, False])
    y = td_target(r, v, d, 0.5, absorbing=True)
    np.testing.assert_allclose(y, [-4.0, 6.0])
    np.testing.assert_array_equal(td_target(r, v, jnp.array([False, False]), 0.5, absorbing=True),
                                  td_target(r, v, jnp.array([False, False]), 0.5))


def test_potential_shaping():
    obs = jnp.array([[-0.5, 0.01]]); nxt = jnp.array([[-0.49, 0.02]])
    phi = lambda o: (0.5 * o[..., 1] ** 2 + 0.0025 / 3 * jnp.sin(3 * o[..., 0])) / 0.0025  # noqa: E731
    np.testing.assert_allclose(mountaincar_energy(obs), phi(obs), rtol=1e-6)
    r = shaped_reward(jnp.array([-1.0]), obs, nxt, jnp.array([False]), mountaincar_energy, 10.0, 0.99)
    np.testing.assert_allclose(r, -1.0 + 10.0 * (0.99 * phi(nxt) - phi(obs)), rtol=1e-5)
    r_term = shaped_reward(jnp.array([-1.0]), obs, nxt, jnp.array([True]), mountaincar_energy, 10.0, 0.99)
    np.testing.assert_allclose(r_term, -1.0 - 10.0 * phi(obs), rtol=1e-5)


def test_gradient_penalty_hand_computed_on_a_linear_function():
    from jaxil.losses import gradient_penalty

    f = lambda x: 3.0 * x[0] - 4.0 * x[1]  # noqa: E731  ∇f = (3, −4): ‖·‖∞ = 4, ‖·‖₂ = 5
    x = jnp.ones((5, 2))
    gp = lambda **kw: float(gradient_penalty(f, x, **kw))  # noqa: E731
    assert gp(target=1.0) == pytest.approx(9.0)  # (4 − 1)²
    assert gp(target=1.0, ord=2) == pytest.approx(16.0)  # (5 − 1)²
    assert gp(target=6.0) == 0.0  # one-sided: flatter than the target is free
    assert gp(target=6.0, one_sided=False) == pytest.approx(4.0)  # (4 − 6)²
    assert gp(target=1.0, weight=10.0) == pytest.approx(90.0)


def test_gradient_penalty_matches_finite_differences_at_interpolates():
    from jaxil.losses import gradient_penalty

    w = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 3))  # two heads

    def f(x):  # (3,) -> (2,) nonlinear heads
        return jnp.sum(jnp.tanh(w @ x), axis=-1) + jnp.array([0.5, -0.2]) * jnp.sum(x**2)

    def f_heads(xh):  # (2, 3) -> (2,): head h reads row h only
        return jnp.sum(jnp.tanh(jnp.einsum("hij,hj->hi", w, xh)), -1) + jnp.array([0.5, -0.2]) * jnp.sum(xh**2, -1)

    real = jax.random.normal(jax.random.PRNGKey(2), (6, 3))
    fake = jax.random.normal(jax.random.PRNGKey(3), (6, 3))
    key = jax.random.PRNGKey(4)
    got = gradient_penalty(f_heads, real, fake, key, target=0.5, ord=2, one_sided=False, heads=2)
    u = np.asarray(jax.random.uniform(key, (6, 1)), np.float64)  # the same draw as inside
    xs = u * np.asarray(real, np.float64) + (1 - u) * np.asarray(fake, np.float64)
    f64 = lambda x: np.asarray(f(jnp.asarray(x, jnp.float32)), np.float64)  # noqa: E731
    h, pens = 1e-2, []
    for x in xs:
        jac = np.stack([(f64(x + h * e) - f64(x - h * e)) / (2 * h) for e in np.eye(3)], axis=-1)  # (2, 3)
        pens.append((np.linalg.norm(jac, axis=-1) - 0.5) ** 2)
    assert float(got) == pytest.approx(float(np.mean(pens)), rel=2e-3)
