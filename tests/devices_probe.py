"""Run by tests/test_driver.py in a subprocess with 4 host CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4): the same BC run over 8 seeds on 1,
2 and 4 devices, and resumed on 2 after stopping on 4; prints one JSON line."""

import json
import sys

import jax

from jaxil import JaxilError, data, driver, envs
from jaxil.evaluation import Reference
from jaxil.il import bc

out = sys.argv[1]
env = envs.make("pendulum")
eps, info = data.load(data.default_dataset_id("pendulum"), env)
train = bc.make_train(bc.Config(hidden=(16,), steps=40, eval_every=20, eval_episodes=2, batch_size=32),
                      data.expert_data(eps[:2]), env, Reference(info.random_return, info.expert_return))
seeds = list(range(8))
result = {"local_devices": len(jax.local_devices())}
for name, devices in (("one", 1), ("two", 2), ("four", 4)):
    carry, rows = driver.run(train, seeds, f"{out}/{name}", progress=False, vectorize=True, devices=devices)
    result[name] = {"devices": len(jax.tree.leaves(carry.state)[0].sharding.device_set), "rows": rows}
driver.run(train, seeds, f"{out}/resumed", progress=False, vectorize=True, devices=4, stop_after=1)
carry, rows = driver.run(train, seeds, f"{out}/resumed", progress=False, vectorize=True, devices=2)
result["resumed"] = {"devices": len(jax.tree.leaves(carry.state)[0].sharding.device_set), "rows": rows}
result["default"] = len(driver.seed_devices(4, None, True)), len(driver.seed_devices(6, None, True))
errors = []
for n, devices, vectorize in ((4, 3, True), (4, 8, True), (4, 2, False)):
    try:
        driver.seed_devices(n, devices, vectorize)
    except JaxilError as err:
        errors.append(str(err))
result["errors"] = errors
print(json.dumps(result))
