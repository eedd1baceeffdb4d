"""Bad input gets a clear error that names the problem and the fix; nothing runs on it.

Each class of fault found by trying jaxil as a new user would has a test here: Config
values out of range (scalars and sweeps), command-line values, run directories, datasets
and diverging runs."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, cli, configs

CONFIG_CLASSES = {name: cli.algo_module(name).Config for name in cli.ALGOS}
BAD_VALUES = {
    configs.POSITIVE: [0.0, -1e-3, math.nan, math.inf],
    configs.NONNEGATIVE: [-1.0, math.nan, math.inf],
    configs.UNIT: [1.5, -0.1, math.nan],
    configs.FINITE: [math.nan, -math.inf],
    configs.SIZE: [0, -5],
    configs.COUNT: [-1],
}


@pytest.mark.parametrize("algo", list(CONFIG_CLASSES))
def test_every_numeric_config_field_has_a_range(algo):
    """One table (configs.RANGES) knows the range of every number a Config holds."""
    Config = CONFIG_CLASSES[algo]
    unchecked = [n for n in configs.numeric_fields(Config) if n not in configs.RANGES and n not in configs.WIDTHS]
    assert not unchecked, f"{algo}: fields without a range in jaxil.configs.RANGES: {unchecked}"


@pytest.mark.parametrize("algo", list(CONFIG_CLASSES))
def test_every_out_of_range_value_is_refused_naming_the_field_and_flag(algo):
    Config = CONFIG_CLASSES[algo]
    checked = 0
    for name in configs.numeric_fields(Config):
        if name in configs.WIDTHS:
            bad_values = [(0,), (64, -5), 0]
        else:
            bad_values = BAD_VALUES[configs.RANGES[name]]
        for bad in bad_values:
            with pytest.raises(JaxilError, match=rf"^{name} must be .*--{name.replace('_', '-')}") as err:
                Config(**{name: bad})
            assert "got" in str(err.value)
            checked += 1
    assert checked >= 10


def test_sweeps_are_checked_element_by_element_and_traced_configs_pass():
    from jaxil.il import bc, iqlearn

    with pytest.raises(JaxilError, match=r"lr must be positive.*out of range: \[nan\]"):
        bc.Config(lr=jnp.array([1e-3, jnp.nan]))
    with pytest.raises(JaxilError, match=r"gamma must be in \[0, 1\].*out of range: \[1.5\]"):
        iqlearn.Config(gamma=np.array([0.9, 1.5]))
    with pytest.raises(JaxilError, match="l2_weight must be non-negative"):
        bc.Config(l2_weight=jnp.array([-0.1, 0.0]))
    # inside jit or vmap the values are not known: the Config is built, not checked
    lrs = jax.vmap(lambda lr: bc.Config().replace(lr=lr).lr)(jnp.array([1e-3, 2e-3]))
    np.testing.assert_allclose(lrs, [1e-3, 2e-3])


def test_booleans_are_not_numbers():
    from jaxil.il import bc

    with pytest.raises(JaxilError, match="lr must be positive"):
        bc.Config(lr=True)


def test_a_valid_default_config_of_every_algorithm_passes():
    for Config in CONFIG_CLASSES.values():
        assert dataclasses.is_dataclass(Config())
