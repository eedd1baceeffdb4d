"""Networks: exact log-probabilities, bounds, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxil import envs
from jaxil.nets import QEnsemble, RewardModel, TanhGaussian, absorbing_input, make_actor


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    loc, scale = jnp.array([[0.3, -1.0]]), jnp.array([[0.5, 2.0]])
    low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])
    dist = TanhGaussian(loc, scale, low, high)
    x = np.array([[0.1, 0.7]])
    half, mid = (np.asarray(high) - np.asarray(low)) / 2, (np.asarray(high) + np.asarray(low)) / 2
    a = mid + half * np.tanh(x)
    # log p(a) = Σ_d [log N(x_d; loc, scale) − log(half_d (1 − tanh² x_d))]
    expected = np.sum(stats.norm.logpdf(x, np.asarray(loc), np.asarray(scale)) - np.log(half * (1 - np.tanh(x) ** 2)))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(a, jnp.float32)), [expected], rtol=1e-5)
    np.testing.assert_allclose(dist.mode(), mid + half * np.tanh(np.asarray(loc)), rtol=1e-6)


def test_tanh_gaussian_boundary_actions_have_finite_log_prob():
    dist = TanhGaussian(jnp.zeros((1, 1)), jnp.ones((1, 1)), jnp.array([-2.0]), jnp.array([2.0]))
    lp = dist.log_prob(jnp.array([[2.0]]))
    assert np.isfinite(lp).all() and float(lp[0]) < -10


def test_actor_families_and_bounds():
    key = jax.random.PRNGKey(0)
    for name, discrete in [("pendulum", False), ("cartpole", True)]:
        spec = envs.make(name).spec
        actor = make_actor(spec, (16,), "relu")
        params = actor.init(key, jnp.zeros((1, spec.obs_dim)))
        dist = actor.apply(params, jax.random.normal(key, (64, spec.obs_dim)) * 10)
        a = dist.sample(seed=key)
        if discrete:
            assert a.shape == (64,) and a.dtype == jnp.int32
            assert set(np.unique(a).tolist()) <= set(range(spec.num_actions))
            np.testing.assert_allclose(jnp.exp(dist.log_prob(jnp.zeros(64, jnp.int32))) + jnp.exp(dist.log_prob(jnp.ones(64, jnp.int32))), 1.0, rtol=1e-5)
        else:
            assert a.shape == (64, 1)
            # large inputs saturate the squashing: samples reach the bounds but never pass them
            assert float(a.min()) >= spec.action_low[0] and float(a.max()) <= spec.action_high[0]
            assert float(jnp.abs(a).max()) > 1.0


def test_q_ensemble_heads_are_independent():
    q = QEnsemble((8,), "relu", num=3)
    params = q.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), jnp.zeros((1, 2)))
    out = q.apply(params, jnp.ones((5, 4)), jnp.ones((5, 2)))
    assert out.shape == (3, 5)
    assert len({float(v) for v in out[:, 0]}) == 3


def test_absorbing_state_input():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    out = absorbing_input(x, jnp.array([False, True]))
    np.testing.assert_array_equal(out, [[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    r = RewardModel((8,), use_done=True, max_reward=0.5)
    params = r.init(jax.random.PRNGKey(0), x, x, jnp.array([False, True]))
    vals = r.apply(params, x * 100, x, jnp.array([False, True]))
    assert vals.shape == (2,) and float(jnp.abs(vals).max()) <= 0.5


def test_silu_equals_flax_silu_with_gradients():
    import flax.linen as nn

    from jaxil.nets.mlp import silu

    # float32: 1 + tanh(x/2) cancels for very negative x, where silu is ~0 anyway
    x = jnp.linspace(-30.0, 30.0, 2001)
    np.testing.assert_allclose(silu(x), nn.silu(x), rtol=1e-5, atol=3e-6)
    d1 = jax.vmap(jax.grad(silu))(x), jax.vmap(jax.grad(nn.silu))(x)
    np.testing.assert_allclose(*d1, rtol=1e-4, atol=3e-6)
    d2 = jax.vmap(jax.grad(jax.grad(silu)))(x), jax.vmap(jax.grad(jax.grad(nn.silu)))(x)
    np.testing.assert_allclose(*d2, rtol=1e-3, atol=1e-5)
