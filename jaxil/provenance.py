"""Which code made an artifact: the git commit of the jaxil source in use."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_commit() -> str | None:
    """Short hash of the checkout jaxil is imported from, with ``-dirty`` when tracked
    files differ from it; None for an installed copy outside git (the version then says
    what it is)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short", "HEAD")
    except OSError:  # no git on this machine
        return None
    if head.returncode != 0:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")
