"""TensorBoard logs of a run (``jaxil train ... --log tensorboard``), beside ``metrics.csv``.

One event directory per seed, ``RUN/tensorboard/seed<N>``, so TensorBoard overlays the seeds
as runs: every metric of every chunk at the metric rows' own ``step`` (updates or env steps),
and at the end the run's hyperparameters (its Config) with the seed's final metrics in the
HPARAMS tab and the summary as text. tensorboardX writes them; it needs no TensorFlow.
``metrics.csv`` stays the record that resuming and ``jaxil plot`` read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jaxil.errors import JaxilError

LOG_BACKENDS = ("csv", "tensorboard")
DIR_NAME = "tensorboard"
_KEYS = ("chunk", "seed", "step")  # the row's coordinates, not metrics


def check_backend(log: str) -> str:
    if log not in LOG_BACKENDS:
        raise JaxilError(f"unknown --log {log!r}; choose one of: {', '.join(LOG_BACKENDS)} "
                         "(metrics.csv is written with either).")
    return log


def _writer(out: Path, seed: int, suffix: str, purge_step: int | None = None):
    from tensorboardX import SummaryWriter

    # event files are named by the second they were opened in: the suffix keeps two writers
    # of one second (a quick resume, the summary after a short run) from writing one file
    return SummaryWriter(str(out / DIR_NAME / f"seed{seed}"), purge_step=purge_step, filename_suffix=suffix)


class TensorBoardLog:
    """Writers for the seeds of a run that may be resuming: events past each seed's last kept
    metric row (written by the interrupted attempt, recomputed now) are purged."""

    def __init__(self, out: Path, seeds: Sequence[int], kept_rows: list[dict]):
        self.writers = {}
        start = max((r["chunk"] for r in kept_rows), default=0)
        for s in seeds:
            steps = [int(r["step"]) for r in kept_rows if r["seed"] == s]
            self.writers[int(s)] = _writer(out, int(s), f".from-chunk{start}", max(steps) + 1 if steps else None)

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            w, step = self.writers[int(row["seed"])], int(row["step"])
            for k, v in row.items():
                if k not in _KEYS:
                    w.add_scalar(k, v, step)
            w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _hparam(v):
    """A Config value as TensorBoard shows hyperparameters (numbers, strings, booleans)."""
    if isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v)  # tuples of sizes, arrays of a sweep


def write_summary(out: Path, config: dict, summary: dict, rows: list[dict]) -> None:
    """Each seed's hyperparameters with its final metrics (HPARAMS tab) and the run's summary."""
    last_chunk = max(r["chunk"] for r in rows)
    hparams = {k: _hparam(v) for k, v in config.items()}
    from tensorboardX.summary import hparams as hparams_summaries

    for row in (r for r in rows if r["chunk"] == last_chunk):
        final = {f"final/{k}": float(v) for k, v in row.items() if k not in _KEYS}
        step = int(row["step"])
        with _writer(out, int(row["seed"]), ".summary") as w:
            # add_hparams would open a second writer on this directory; its summaries go here instead
            for s in hparams_summaries(hparams, final):
                w.file_writer.add_summary(s, step)
            for k, v in final.items():
                w.add_scalar(k, v, step)
            w.add_text("summary", f"```\n{json.dumps(summary, indent=2)}\n```", step)
