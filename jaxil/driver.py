"""Long runs: the same chunk function as ``train(key)``, driven from a host loop.

``run`` calls ``train.chunk`` once per chunk for every seed, and after each chunk
appends per-seed metrics to ``metrics.csv``, updates a progress bar and, every
``checkpoint_every`` chunks (and at the end), saves the whole carry with orbax. A run
started again in the same directory resumes from its latest checkpoint and finishes
with exactly the state an uninterrupted run reaches.

Seeds: on accelerators they are vmapped (one program runs them all in parallel). On
CPU, vectorizing seeds brings no speed (the work is compute-bound), and XLA compiles a
batched program with differently ordered float reductions than an unbatched one, so
there the driver runs every seed through the *same* compiled single-seed chunk: seed i
of a run is then bit for bit the lone run ``train(key_i)``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import filelock
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxil.errors import JaxilError
from jaxil.loop import Carry, Train
from jaxil.tensorboard import TensorBoardLog, check_backend

CSV_NAME, CONFIG_NAME, CKPT_DIR, LOCK_NAME = "metrics.csv", "config.json", "checkpoints", ".lock"


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One key per seed; seed s gives the same key alone or inside a batch."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def _json_ready(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (np.ndarray, jax.Array)):
        return np.asarray(x).tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def _differences(old: dict, new: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Dotted keys where two saved configurations differ, each with why ("" for a changed value)."""
    out = []
    for k in sorted(set(old) | set(new)):
        name = prefix + str(k)
        if k not in old:
            out.append((name, "not in the saved run"))
        elif k not in new:
            out.append((name, "only in the saved run"))
        elif isinstance(old[k], dict) and isinstance(new[k], dict):
            out += _differences(old[k], new[k], name + ".")
        elif old[k] != new[k]:
            out.append((name, ""))
    return out


def _write_config(out: Path, run_config: dict, resume: bool) -> None:
    path = out / CONFIG_NAME
    cfg = _json_ready(run_config)
    if path.exists() and resume:
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise JaxilError(f"{path} is corrupt ({err}); pass a fresh --out directory.") from err
        if old != cfg:
            changed = _differences(old, cfg)
            hint = ""
            if any(why == "not in the saved run" for _, why in changed):
                # Refused rather than filled from the default: jaxil cannot know whether a
                # newer field's default reproduces what the saved run did.
                hint = (" A field the saved run lacks is newer than the run: if its value here is what "
                        f"the run did, add it to {path} by hand to resume.")
            listed = ", ".join(f"{k} ({why})" if why else k for k, why in changed)
            raise JaxilError(
                f"{out} holds a run with a different configuration (differs in: {listed}); "
                f"pass a new --out directory, or --no-resume to start over in this one.{hint}"
            )
    path.write_text(json.dumps(cfg, indent=2))


class ProcessCheckpoints:
    """Checkpoints of one process of a multi-process job (jaxil.hosts), which runs its own
    seeds into its own directory: orbax's multi-host saving writes arrays from process 0
    only, so each process writes its own msgpack files (``checkpoints/<chunk>.msgpack``,
    written to a temporary name and renamed, the newest two kept), with the calls the
    driver makes of an orbax manager."""

    def __init__(self, directory: Path, max_to_keep: int = 2):
        self.directory, self.max_to_keep = directory, max_to_keep
        directory.mkdir(parents=True, exist_ok=True)

    def all_steps(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.msgpack") if p.stem.isdigit())

    def save(self, step: int, args) -> None:
        from flax import serialization

        tmp = self.directory / f".{step}.msgpack.tmp"
        leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(args.item))}
        tmp.write_bytes(serialization.msgpack_serialize(leaves))
        tmp.replace(self.directory / f"{step}.msgpack")
        for old in self.all_steps()[: -self.max_to_keep]:
            (self.directory / f"{old}.msgpack").unlink()

    def restore(self, step: int, args):
        from flax import serialization

        stored = serialization.msgpack_restore((self.directory / f"{step}.msgpack").read_bytes())
        like = jax.tree.leaves(args.item)
        leaves = [stored[str(i)] for i in range(len(stored))]
        if [(x.shape, x.dtype) for x in leaves] != [(x.shape, x.dtype) for x in like]:
            raise ValueError("the stored arrays do not have the shapes of this run's state")
        return jax.tree.unflatten(jax.tree.structure(args.item), leaves)

    def wait_until_finished(self) -> None:
        pass

    def close(self) -> None:
        pass


def _manager(out: Path):
    # a process's own checkpoints stay readable alone (jaxil eval, a resume in one process)
    if jax.process_count() > 1 or any((out / CKPT_DIR).glob("*.msgpack")):
        return ProcessCheckpoints((out / CKPT_DIR).absolute())
    return ocp.CheckpointManager((out / CKPT_DIR).absolute(),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def run_inputs(train: Train, seeds: Sequence[int]):
    """What ``train.init_carry`` takes for each seed, batched: the seeds' keys, or what
    the train's own ``inputs(seeds)`` gives (a sweep: keys and Configs per run)."""
    inputs = getattr(train, "inputs", None)
    return seed_keys(seeds) if inputs is None else inputs(seeds)


def abstract_carry(train: Train, seeds: Sequence[int]) -> Carry:
    """Shapes and dtypes of the seed-batched carry, without computing it."""
    return jax.eval_shape(jax.vmap(train.init_carry), run_inputs(train, seeds))


def _savable(carry: Carry) -> Carry:
    """Orbax refuses zero-size arrays, and MuJoCo (mjx) states hold some (a model with no
    activation states has ``act`` of shape (0,)). They carry no data: a checkpoint stores
    a one-element stand-in, and ``restore`` rebuilds them from the abstract carry."""
    return jax.tree.map(lambda x: x if x.size else np.zeros((1,), x.dtype), carry)


def checkpoint_steps(out: Path) -> list[int]:
    """The chunk counts of the checkpoints kept in ``out``, oldest first."""
    if not (out / CKPT_DIR).exists():
        return []
    mngr = _manager(out)
    try:
        return sorted(mngr.all_steps())
    finally:
        mngr.close()


def restore_latest(out: Path, like: Carry) -> Carry | None:
    """The latest checkpointed (seed-batched) carry in ``out``, shaped like ``like``, or None."""
    steps = checkpoint_steps(out)
    return restore(out, like, steps[-1]) if steps else None


def restore(out: Path, like: Carry, step: int) -> Carry:
    """The (seed-batched) carry checkpointed at chunk ``step`` in ``out``, shaped like ``like``."""
    mngr = _manager(out)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape if x.size else (1,), x.dtype), like)
    try:
        carry = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        carry = jax.tree.map(lambda r, x: r if x.size else jnp.zeros(x.shape, x.dtype), carry, like)
    except Exception as err:
        raise JaxilError(
            f"checkpoint {out / CKPT_DIR / str(step)} could not be restored ({type(err).__name__}: {err}). "
            "It is corrupt or from another configuration: delete that step directory to fall back to "
            "an older checkpoint, or pass --no-resume to start over."
        ) from err
    finally:
        mngr.close()
    return carry


def _csv_rows(metrics: dict[str, np.ndarray], chunk: int, seeds: Sequence[int]) -> list[dict]:
    rows = []
    for i, s in enumerate(seeds):
        row = {"chunk": chunk, "seed": int(s)}
        row.update({k: float(np.asarray(v)[i]) for k, v in sorted(metrics.items())})
        rows.append(row)
    return rows


def read_metrics(out: Path) -> list[dict]:
    """Rows of ``metrics.csv``; a line torn by a kill mid-write is skipped."""
    path = Path(out) / CSV_NAME
    if not path.exists():
        return []
    rows = []
    with path.open() as f:
        for r in csv.DictReader(f):
            if any(v in (None, "") for v in r.values()) or None in r:
                continue
            try:
                rows.append({k: int(v) if k in ("chunk", "seed") else float(v) for k, v in r.items()})
            except ValueError:
                continue
    return rows


def _rewrite_csv(out: Path, rows: list[dict]) -> None:
    path = out / CSV_NAME
    if not rows:
        path.unlink(missing_ok=True)
        return
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _append_csv(out: Path, rows: list[dict]) -> None:
    path = out / CSV_NAME
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            w.writeheader()
        w.writerows(rows)


def seed_devices(num_seeds: int, devices: int | None, vectorize: bool) -> list | None:
    """The local devices the seed axis is laid over, or None for one device. ``devices``
    None: all local devices when seeds are vmapped (the most that divide the seeds);
    a number: exactly that many (it must divide the seeds)."""
    available = jax.local_devices()
    if devices is None:
        n = len(available) if vectorize else 1
        while num_seeds % n:
            n -= 1
    else:
        n = devices
        if not 1 <= n <= len(available):
            raise JaxilError(f"--devices {n}: this process sees {len(available)} {available[0].platform} device(s); "
                             f"pass 1 to {len(available)}.")
        if n > 1 and not vectorize:
            raise JaxilError(f"--devices {n} lays the vmapped seeds over devices; drop --no-vectorize.")
        if num_seeds % n:
            raise JaxilError(f"--seeds ({num_seeds}) must be a multiple of --devices ({n}): each device runs as "
                             "many seeds as the others.")
    return available[:n] if n > 1 else None


class SeedRunner:
    """Applies a per-seed function to all seeds: one vmapped program, or the same
    compiled single-seed program once per seed. Carries are one batched pytree in the
    first mode and a list of per-seed pytrees in the second; checkpoints always hold the
    batched form, so a run can resume in either mode. With ``devices``, the vmapped seed
    axis is sharded over them (a one-axis mesh "seeds"): each device runs its share of
    the seeds, and XLA keeps every array where its seeds live."""

    def __init__(self, vectorize: bool, devices: list | None = None):
        self.vectorize = vectorize
        self.sharding = None
        if devices is not None:
            mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
            self.sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))

    def jit(self, f):
        """``jax.jit(f)``, its outputs laid over the devices by their leading (seed) axis."""
        return jax.jit(f) if self.sharding is None else jax.jit(f, out_shardings=self.sharding)

    def init(self, train: Train, seeds: Sequence[int]):
        inputs = run_inputs(train, seeds)
        if self.vectorize:
            return self.jit(jax.vmap(train.init_carry))(inputs)
        f = jax.jit(train.init_carry)
        return [f(jax.tree.map(lambda x: x[i], inputs)) for i in range(len(seeds))]

    def chunk_fn(self, train: Train):
        if self.vectorize:
            return self.jit(jax.vmap(train.chunk))
        f = jax.jit(train.chunk)

        def per_seed(carries):
            outs = [f(c) for c in carries]
            metrics = jax.tree.map(lambda *xs: np.stack(xs), *[jax.device_get(m) for _, m in outs])
            return [c for c, _ in outs], metrics

        return per_seed

    def finite(self, carry) -> list[bool]:
        """Per seed: is every floating leaf of its state finite (the batch is not copied)."""
        if self.vectorize:
            return [bool(f) for f in jax.jit(jax.vmap(_all_finite))(carry.state)]
        return [bool(_all_finite(c.state)) for c in carry]

    def stacked(self, carry):
        return carry if self.vectorize else jax.tree.map(lambda *xs: jnp.stack(xs), *carry)

    def from_stacked(self, carry, num_seeds: int):
        if not self.vectorize:
            return [jax.tree.map(lambda x: x[i], carry) for i in range(num_seeds)]
        return carry if self.sharding is None else jax.device_put(carry, self.sharding)


class DivergedError(JaxilError):
    """A run whose losses or parameters stopped being finite numbers."""


@jax.jit
def _all_finite(state) -> jax.Array:
    """Whether every floating leaf of a state is finite."""
    leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def nonfinite(finite: Sequence[bool], metrics: dict, seeds: Sequence[int]) -> str | None:
    """What is not finite after a chunk (the first non-finite metric, or the parameters,
    with the seeds), or None when everything is."""
    bad_metrics = {k: [s for s, v in zip(seeds, np.asarray(v).reshape(len(seeds))) if not np.isfinite(v)]
                   for k, v in sorted(metrics.items())}
    bad_metrics = {k: v for k, v in bad_metrics.items() if v}
    if bad_metrics:
        name, bad_seeds = next(iter(bad_metrics.items()))
        also = f" (also: {', '.join(list(bad_metrics)[1:6])})" if len(bad_metrics) > 1 else ""
        return f"metric {name!r} is not finite for seed(s) {bad_seeds}{also}"
    if not all(finite):
        return f"the parameters of seed(s) {[s for s, ok in zip(seeds, finite) if not ok]} are not finite"
    return None


def default_vectorize() -> bool:
    return jax.default_backend() != "cpu"


def run(
    train: Train,
    seeds: Sequence[int],
    out: str | Path,
    *,
    run_config: dict | None = None,
    checkpoint_every: int = 1,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    vectorize: bool | None = None,
    on_chunk: Callable[[int, Callable[[], Carry], dict], None] | None = None,
    stop_when: Callable[[list[dict]], bool] | None = None,
    devices: int | None = None,
    log: str = "csv",
) -> tuple[Carry, list[dict]]:
    """Run ``train`` for ``seeds`` with logs and checkpoints in ``out``.

    Returns the final carry (batched over seeds) and all metric rows (one per chunk
    and seed, in chunk-then-seed order). ``stop_after`` ends the loop after that many
    chunks in total, as an interruption would (used by tests). ``vectorize`` picks
    vmap (default on accelerators) or per-seed calls (default on CPU); vmapped seeds are
    spread over ``devices`` local devices (default: all that divide the seeds, see
    :func:`seed_devices`). ``on_chunk(c,
    get_carry, metrics)`` runs after chunk ``c`` (1-based) and before its checkpoint, so
    whatever it saves exists whenever a later resume starts past ``c``; ``get_carry()``
    gives the seed-batched carry. ``stop_when(rows)`` ends the run early, with a
    checkpoint, once the metric rows so far satisfy it (a resumed run that already
    satisfies it trains no further). ``log="tensorboard"`` also writes each chunk's metrics as
    TensorBoard events (:mod:`jaxil.tensorboard`); ``metrics.csv`` is written either way.
    """
    out = Path(out)
    check_backend(log)
    if checkpoint_every <= 0:
        raise JaxilError(f"checkpoint_every must be positive, got {checkpoint_every}.")
    if not seeds:
        raise JaxilError("no seeds to run; pass --seeds 1 or more.")
    make_run_dir(out)
    with lock_run_dir(out):
        return _run(train, seeds, out, run_config=run_config, checkpoint_every=checkpoint_every, resume=resume,
                    progress=progress, stop_after=stop_after, vectorize=vectorize, on_chunk=on_chunk,
                    stop_when=stop_when, devices=devices, log=log)


def make_run_dir(out: Path) -> None:
    """Create the run directory, with a clear error where that cannot be done."""
    if out.exists() and not out.is_dir():
        raise JaxilError(f"--out {out} is a file, not a directory; pass a directory for the run.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JaxilError(f"cannot create the run directory {out} ({err.strerror}); pass an --out you can write to.") from err


@contextlib.contextmanager
def lock_run_dir(out: Path):
    """Hold the run directory's lock (``out/.lock``, an OS advisory lock that is released
    if the process dies): a second process on the same directory is refused at once."""
    lock = filelock.FileLock(out / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise JaxilError(
            f"another jaxil process is writing {out} (it holds {out / LOCK_NAME}); wait for it to end, "
            "or pass another --out."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _run(
    train: Train,
    seeds: Sequence[int],
    out: Path,
    *,
    run_config: dict | None,
    checkpoint_every: int,
    resume: bool,
    progress: bool,
    stop_after: int | None,
    vectorize: bool | None,
    on_chunk: Callable[[int, Callable[[], Carry], dict], None] | None,
    stop_when: Callable[[list[dict]], bool] | None,
    devices: int | None = None,
    log: str = "csv",
) -> tuple[Carry, list[dict]]:
    vectorize = default_vectorize() if vectorize is None else vectorize
    _write_config(out, {"seeds": list(seeds), **(run_config or {})}, resume)
    runner = SeedRunner(vectorize, seed_devices(len(seeds), devices, vectorize))
    chunk_fn = runner.chunk_fn(train)
    restored = restore_latest(out, abstract_carry(train, seeds)) if resume else None
    if restored is not None:
        carry = runner.from_stacked(restored, len(seeds))
        start = int(np.asarray(restored.chunk)[0])
    else:
        carry, start = runner.init(train, seeds), 0
        if (out / CKPT_DIR).exists():
            shutil.rmtree(out / CKPT_DIR)
    # Rows past the restored chunk came from the interrupted attempt; drop them.
    kept = [r for r in read_metrics(out) if r["chunk"] <= start]
    if {r["chunk"] for r in kept} != set(range(1, start + 1)):
        raise JaxilError(
            f"{out / CSV_NAME} lacks metrics for chunks that the checkpoint (chunk {start}) covers; "
            "restore the file, or pass --no-resume to start the run over."
        )
    _rewrite_csv(out, kept)

    end = train.num_chunks if stop_after is None else min(train.num_chunks, stop_after)
    if stop_when is not None and kept and stop_when(kept):
        end = start
    mngr = _manager(out)
    board = TensorBoardLog(out, seeds, kept) if log == "tensorboard" else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=train.num_chunks, initial=start, unit="chunk", dynamic_ncols=True)
    try:
        for c in range(start, end):
            carry, metrics = chunk_fn(carry)
            metrics = jax.device_get(metrics)
            rows = _csv_rows(metrics, c + 1, seeds)
            _append_csv(out, rows)
            if board is not None:
                board.write(rows)
            # before anything is saved: a diverged state never replaces a finite checkpoint
            problem = nonfinite(runner.finite(carry), metrics, seeds)
            if problem is None and train.problem is not None:
                problem = train.problem(metrics)
            if problem is not None:
                mngr.wait_until_finished()
                kept = sorted(mngr.all_steps())
                where = (f"the last finite checkpoint is chunk {kept[-1]} in {out / CKPT_DIR} "
                         f"(`jaxil eval {out}` evaluates it)" if kept else "no checkpoint was saved before it")
                raise DivergedError(
                    f"the run diverged in chunk {c + 1}: {problem}. Nothing from that chunk was checkpointed; "
                    f"{where}. Lower the learning rates (or the gradient-penalty or loss weights) and start again "
                    "with a new --out or --no-resume."
                )
            if on_chunk is not None:
                on_chunk(c + 1, lambda: runner.stacked(carry), metrics)
            stop = stop_when is not None and stop_when(read_metrics(out))
            if stop or (c + 1) % checkpoint_every == 0 or c + 1 == train.num_chunks:
                mngr.save(c + 1, args=ocp.args.StandardSave(_savable(runner.stacked(carry))))
            if bar is not None:
                post = {"step": int(np.asarray(metrics["step"])[0])}
                for k in ("normalized_score", "eval_return"):
                    if k in metrics:
                        post[k] = f"{float(np.mean(metrics[k])):.1f}"
                        break
                bar.set_postfix(post)
                bar.update(1)
            if stop:
                break
        mngr.wait_until_finished()
    finally:
        mngr.close()
        if board is not None:
            board.close()
        if bar is not None:
            bar.close()
    return runner.stacked(carry), read_metrics(out)
