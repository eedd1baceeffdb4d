"""Runs over several processes (hosts) with JAX's own distributed runtime.

``jaxil train ... --num-processes N --process-id I --coordinator-address HOST:PORT`` (or
the environment variables JAX_NUM_PROCESSES, JAX_PROCESS_ID, JAX_COORDINATOR_ADDRESS)
joins process I to a ``jax.distributed`` job of N processes. Each process runs its share
of the seeds (a contiguous block; each process's own devices as usual) into
``OUT/process-I/``, and process 0 gathers every seed's final metrics over JAX's
collectives (gloo on CPU) and writes the one summary ``OUT/summary.json``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Sequence

import numpy as np

from jaxil.errors import JaxilError


@dataclasses.dataclass(frozen=True)
class Hosts:
    coordinator_address: str
    num_processes: int
    process_id: int
    init_timeout: int = 300

    def describe(self) -> str:
        return (f"--coordinator-address {self.coordinator_address} --num-processes {self.num_processes} "
                f"--process-id {self.process_id}")


def settings(coordinator_address: str | None, num_processes: int | None, process_id: int | None,
             init_timeout: int = 300) -> Hosts | None:
    """The job's settings from the flags, else the environment; None for a single process."""
    address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    count = num_processes if num_processes is not None else _env_int("JAX_NUM_PROCESSES")
    pid = process_id if process_id is not None else _env_int("JAX_PROCESS_ID")
    given = {"--coordinator-address": address, "--num-processes": count, "--process-id": pid}
    if all(v is None for v in given.values()) or count == 1:
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise JaxilError(f"a multi-process run needs {', '.join(given)} (or JAX_COORDINATOR_ADDRESS, "
                         f"JAX_NUM_PROCESSES, JAX_PROCESS_ID); missing: {', '.join(missing)}.")
    if count < 1 or not 0 <= pid < count:
        raise JaxilError(f"--process-id must lie in 0..{count - 1} for --num-processes {count}, got {pid}.")
    return Hosts(address, count, pid, init_timeout)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise JaxilError(f"{name}={value!r} is not a whole number.") from None


def share(seeds: Sequence[int], hosts: Hosts) -> list[int]:
    """This process's seeds: a contiguous block, every process the same number."""
    n = hosts.num_processes
    if len(seeds) % n:
        raise JaxilError(f"--seeds ({len(seeds)}) must be a multiple of --num-processes ({n}): every process runs "
                         "as many seeds as the others.")
    k = len(seeds) // n
    return list(seeds[hosts.process_id * k:(hosts.process_id + 1) * k])


def initialize(hosts: Hosts) -> None:
    """Join the job. JAX ends the process itself if the others do not join within
    ``init_timeout`` seconds, so the settings are printed first."""
    import jax

    print(f"jaxil: joining the job at {hosts.coordinator_address} as process {hosts.process_id} of "
          f"{hosts.num_processes} (waiting up to {hosts.init_timeout} s for the others; {hosts.describe()})",
          file=sys.stderr, flush=True)
    # gathers between CPU processes go through gloo (device collectives are unaffected);
    # asking for the backend here would start it, which must wait for initialize
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(hosts.coordinator_address, hosts.num_processes, hosts.process_id,
                               initialization_timeout=hosts.init_timeout)
    if jax.process_count() != hosts.num_processes:
        raise JaxilError(f"the job has {jax.process_count()} processes, but this one was told "
                         f"--num-processes {hosts.num_processes}; start every process with the same settings.")


def gather_final_rows(rows: list[dict], local_seeds: Sequence[int], all_seeds: Sequence[int]) -> list[dict]:
    """Every process's last-chunk metric rows, on every process (a collective: all call it)."""
    from jax.experimental import multihost_utils

    last = max(r["chunk"] for r in rows)
    mine = {r["seed"]: r for r in rows if r["chunk"] == last}
    names = sorted(k for k, v in mine[local_seeds[0]].items() if isinstance(v, (int, float)) and k != "seed")
    table = np.array([[mine[s][k] for k in names] for s in local_seeds], np.float32)
    gathered = np.asarray(multihost_utils.process_allgather(table)).reshape(len(all_seeds), len(names))
    return [{"seed": s, **{k: float(v) for k, v in zip(names, row)}} | {"chunk": last}
            for s, row in zip(all_seeds, gathered)]
