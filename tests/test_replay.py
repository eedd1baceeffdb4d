"""The packed replay buffer: exact round trip, FIFO order, shape errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil.data import replay
from jaxil.types import Transition


def _batch(start: int, n: int) -> Transition:
    i = jnp.arange(start, start + n)
    return Transition(
        obs=jnp.stack([i * 0.5, -i * 1.25], 1).astype(jnp.float32),
        action=(i % 7).astype(jnp.int32),  # a discrete action
        reward=(i * 0.1).astype(jnp.float32),
        next_obs=jnp.stack([i * 0.5 + 1, -i * 1.25 - 1], 1).astype(jnp.float32),
        terminated=i % 3 == 0,
        truncated=i % 5 == 0,
    )


def test_fifo_order_and_exact_dtypes():
    example = jax.tree.map(lambda x: x[0], _batch(0, 1))
    buf = replay.init(8, example)
    for start in range(0, 12, 4):  # 12 rows into 8 slots: rows 0..3 are overwritten
        buf = jax.jit(replay.add)(buf, _batch(start, 4))
    assert int(buf.size) == 8 and int(buf.pos) == 4
    got, want = replay.contents(buf), _batch(4, 8)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_wrapping_add_with_uneven_batches():
    example = jax.tree.map(lambda x: x[0], _batch(0, 1))
    buf = replay.init(5, example)
    buf = replay.add(replay.add(buf, _batch(0, 3)), _batch(3, 3))  # 3 does not divide 5
    np.testing.assert_array_equal(replay.contents(buf).reward, _batch(1, 5).reward)


def test_masked_add_writes_only_kept_rows_in_order_and_wraps():
    example = jax.tree.map(lambda x: x[0], _batch(0, 1))
    buf = replay.add(replay.init(6, example), _batch(0, 2))
    keep = jnp.array([True, False, True, True, False, True])  # rows 100, 102, 103, 105 live
    buf = jax.jit(replay.add)(buf, _batch(100, 6), keep)
    assert int(buf.size) == 6 and int(buf.pos) == 0
    np.testing.assert_array_equal(replay.contents(buf).reward, _batch(0, 2).reward.tolist()
                                  + [_batch(i, 1).reward[0] for i in (100, 102, 103, 105)])
    # two more kept rows wrap around and overwrite the two oldest; nothing kept is a no-op
    buf = replay.add(buf, _batch(200, 3), jnp.array([False, True, True]))
    buf = replay.add(buf, _batch(300, 3), jnp.zeros(3, bool))
    assert int(buf.size) == 6 and int(buf.pos) == 2
    want = [_batch(i, 1) for i in (100, 102, 103, 105, 201, 202)]
    got = replay.contents(buf)
    for i, w in enumerate(want):
        for g, x in zip(jax.tree.leaves(jax.tree.map(lambda a: a[i], got)), jax.tree.leaves(w)):
            np.testing.assert_array_equal(g, x[0])


def test_sample_draws_only_valid_rows():
    example = jax.tree.map(lambda x: x[0], _batch(0, 1))
    buf = replay.add(replay.init(100, example), _batch(10, 4))
    s = replay.sample(jax.random.PRNGKey(0), buf, 64)
    assert set(np.asarray(s.action).tolist()) <= {10 % 7, 11 % 7, 12 % 7, 13 % 7}
    np.testing.assert_array_equal(s.next_obs, s.obs + jnp.array([1.0, -1.0]))


def test_wrong_shape_is_a_clear_error():
    example = jax.tree.map(lambda x: x[0], _batch(0, 1))
    bad = _batch(0, 2).replace(obs=jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="does not match the buffer"):
        replay.add(replay.init(4, example), bad)


def test_buffer_rows_split_into_complete_episodes_per_stream():
    from jaxil.data.episodes import buffer_episodes
    from jaxil.experts import medium_chunk

    # Two interleaved env streams: stream 0 ends episodes at its steps 1 (terminal) and
    # 4 (time limit); stream 1 ends one at step 2 and is mid-episode when saved.
    steps, n = 6, 2
    k = np.arange(steps * n)
    done0 = {1: "term", 4: "trunc"}
    done1 = {2: "term"}
    term = np.array([(done0 if i % n == 0 else done1).get(i // n) == "term" for i in k])
    trunc = np.array([(done0 if i % n == 0 else done1).get(i // n) == "trunc" for i in k])
    t = Transition(obs=k[:, None] * 1.0, action=k[:, None] * 0.5, reward=k * 1.0,
                   next_obs=k[:, None] + 100.0, terminated=term, truncated=trunc)
    eps = buffer_episodes(t, n)
    assert [len(e) for e in eps] == [2, 3, 3]  # stream 0: steps 0-1, 2-4; stream 1: 0-2
    first = eps[0]
    np.testing.assert_array_equal(first.observations[:, 0], [0.0, 2.0, 102.0])  # real final s'
    np.testing.assert_array_equal(first.terminations, [False, True])
    np.testing.assert_array_equal(eps[1].truncations, [False, False, True])
    np.testing.assert_array_equal(eps[2].rewards, [1.0, 3.0, 5.0])

    rows = [{"chunk": c, "eval_return": r, "env_steps": c * 10.0} for c, r in [(1, 5.0), (2, 40.0), (3, 34.0), (4, 90.0)]]
    assert medium_chunk(rows, expert_return=100.0, random_return=10.0)["chunk"] == 2  # level 40
