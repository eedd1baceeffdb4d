"""The documentation site builds in strict mode, and strict mode refuses a broken reference."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
QUIET = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "--site-dir",
                           str(site)], cwd=config.parent, capture_output=True, text=True, env=QUIET)


def test_the_site_builds_with_a_page_per_algorithm_and_public_module(tmp_path):
    from jaxil.cli import ALGOS

    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    for algo in ALGOS:
        page = (site / "algorithms" / algo / "index.html").read_text()
        assert f"jaxil train {algo}" in page and "--steps" in page  # its docstring's page and its flags
    assert (site / "api" / "jaxil.il.gail" / "index.html").is_file()
    assert (site / "tutorials" / "quickstart" / "index.html").is_file()
    assert "IQM" in (site / "results" / "index.html").read_text()  # experiments/results/README.md


def test_strict_mode_fails_on_a_missing_page_reference(tmp_path):
    # the site's own settings (strict, link validation) on a page that links to nothing
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["plugins"] = ["search"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# jaxil\n\nSee [the algorithms](algorithms/gial.md).\n")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "algorithms/gial.md" in done.stderr
