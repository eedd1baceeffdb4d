"""Which code made an artifact: the git commit of the jaxil source in use."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_commit() -> str | None:
    """Short hash of the git checkout jaxil's source lives in, with ``-dirty`` when
    tracked files differ from it; None for an installed copy (site-packages inside some
    other project's repository included: the version then says what it is)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True)

    try:
        tracked = git("ls-files", "--error-unmatch", "__init__.py")
    except OSError:  # no git on this machine
        return None
    if tracked.returncode != 0:  # not a checkout, or not jaxil's own
        return None
    head, status = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    if head.returncode != 0 or status.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")
