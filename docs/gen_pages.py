"""The documentation site's pages, generated at build time (mkdocs-gen-files) from what they
describe, so none can drift from its source:

- Getting started, Concepts and the family pages: README.md's sections;
- one page per algorithm: its module docstring (the method, its losses in math, its paper,
  where jaxil departs from the reference code and why), its recorded results, its Config and
  functions (mkdocstrings);
- the command line: ``jaxil -h`` and ``jaxil train ALGO -h`` of every algorithm;
- the API: one page per public module, from its docstrings;
- Results: the tables under ``experiments/results/``; Tutorials: ``notebooks/``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pkgutil
import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "experiments" / "results"
CONCEPTS = ("What is here", "The algorithm contract", "When something goes wrong", "Datasets", "Benchmarks")
FAMILIES = ("Offline imitation", "Online imitation", "ilpyt's algorithms", "Learned dynamics", "Tabular IRL",
            "Model-based IRL")
summary: list[str] = []  # SUMMARY.md, the navigation (mkdocs-literate-nav)


def write(path: str, text: str, title: str, depth: int = 0) -> None:
    with mkdocs_gen_files.open(path, "w") as f:
        f.write(text)
    summary.append(f"{'    ' * depth}* [{title}]({path})")


def readme_sections(level: int = 2) -> dict[str, str]:
    """README's sections at heading ``level`` (with their subsections), by title; code blocks
    are skipped when looking for headings (their ``#`` lines are shell comments)."""
    sections, title, lines, in_code = {}, None, [], False
    for line in README.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = re.match(r"^(#+) (.*)$", line) if not in_code else None
        if heading and len(heading.group(1)) <= level:
            if title is not None:
                sections[title] = "\n".join(lines)
            title, lines = (heading.group(2) if len(heading.group(1)) == level else ""), []
        lines.append(line)
    sections[title] = "\n".join(lines)
    return sections


def starting_with(sections: dict[str, str], prefix: str) -> tuple[str, str]:
    title = next(t for t in sections if t.startswith(prefix))
    return title, sections[title]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def help_text(argv: list[str]) -> str:
    """What ``jaxil ARGV`` prints (its help), captured in process at a fixed width."""
    from jaxil import cli

    os.environ["COLUMNS"] = "100"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main(argv)
    return out.getvalue().rstrip()


def results_table(algo: str) -> str:
    """The recorded runs of ``jaxil train ALGO`` under experiments/results/ (score IQM [95% CI])."""
    rows = []
    for f in sorted(RESULTS.rglob("*.json")):
        try:
            record = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict) or not str(record.get("command", "")).startswith(f"jaxil train {algo} "):
            continue
        s = record.get("summary", {})
        score = s.get("normalized_score") or {}
        cell = f"{score['iqm']:.1f} [{score['ci95'][0]:.1f}, {score['ci95'][1]:.1f}]" if score else "–"
        rows.append(f"| `{f.relative_to(ROOT)}` | {s.get('env', '')} | {cell} | {len(record.get('seeds') or [])} | "
                    f"{record.get('budget', '')} | {record.get('wall_s_command', '')} | {record.get('jaxil_commit', '')} |")
    if not rows:
        return "No recorded results yet."
    return "\n".join(["| record | env | normalized score, IQM [95% CI] | seeds | budget | wall s | commit |",
                      "|---|---|---|---|---|---|---|", *rows])


def getting_started(sections: dict[str, str]) -> None:
    intro = sections[""]
    _, setup = starting_with(sections, "Set up")
    write("index.md", f"{intro}\n\n{setup}\n", "Getting started")


def concepts(sections: dict[str, str]) -> None:
    parts = [starting_with(sections, t)[1] for t in CONCEPTS]
    write("concepts.md", "# Concepts\n\n" + "\n\n".join(p.replace("\n## ", "\n### ").replace("## ", "## ", 1)
                                                         for p in parts) + "\n", "Concepts")


def families(sections: dict[str, str]) -> None:
    summary.append("* Families")
    for prefix in FAMILIES:
        title, text = starting_with(sections, prefix)
        write(f"families/{slug(prefix)}.md", "#" + text[2:] + "\n", title, 1)


def algorithms() -> None:
    import importlib

    from jaxil.cli import ALGOS

    summary.append("* Algorithms")
    for name, info in ALGOS.items():
        module = importlib.import_module(info.module)
        doc = re.sub(r":(?:mod|func|class|meth|attr):`([^`]+)`", r"`\1`", (module.__doc__ or "").strip())  # Sphinx roles
        first, _, rest = doc.partition("\n")
        text = [f"# {name}", "", f"`jaxil train {name}` · module `{info.module}` · kind: {info.kind}"
                + (f" · learned reward: {info.reward}" if info.reward else ""), "", f"**{first}**", "", rest.strip(),
                "", "## Results", "", results_table(name), "", "## Command line", "", "```text",
                help_text(["train", name, "-h"]), "```", "", "## API", "",
                f"`Config`, `init`, `update`, `make_train`, `policy` and the losses, from their docstrings: "
                f"[{info.module}](../api/{info.module}.md).", ""]
        write(f"algorithms/{name}.md", "\n".join(text), name, 1)


def command_line(sections: dict[str, str]) -> None:
    _, text = starting_with(sections, "Command line")
    write("cli.md", "#" + text[2:] + "\n\n## `jaxil -h`\n\n```text\n" + help_text(["-h"]) + "\n```\n\n"
          "Each algorithm's flags: its page under Algorithms.\n", "Command line")


def api() -> None:
    import jaxil

    summary.append("* API")
    names = sorted(m.name for m in pkgutil.walk_packages(jaxil.__path__, "jaxil.")
                   if not any(part.startswith("_") for part in m.name.split(".")))
    for name in ["jaxil", *names]:
        write(f"api/{name}.md", f"# {name}\n\n::: {name}\n    options:\n      show_root_heading: false\n", name, 1)


def results() -> None:
    summary.append("* Results")
    pages = sorted(RESULTS.glob("*.md"), key=lambda p: (p.name != "README.md", p.name))
    for page in pages:
        name = "index" if page.name == "README.md" else page.stem
        write(f"results/{name}.md", page.read_text(), "Overview" if name == "index" else page.stem, 1)


def tutorials() -> None:
    summary.append("* Tutorials")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        with mkdocs_gen_files.open(f"tutorials/{nb.name}", "wb") as f:
            f.write(nb.read_bytes())
        summary.append(f"    * [{nb.stem.replace('_', ' ')}](tutorials/{nb.name})")


sections = readme_sections()
getting_started(sections)
concepts(sections)
command_line(sections)
families(sections)
algorithms()
tutorials()
results()
api()
with mkdocs_gen_files.open("SUMMARY.md", "w") as f:
    f.write("\n".join(summary) + "\n")
