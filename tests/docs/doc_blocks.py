"""The fenced code blocks of the Markdown docs, with the markers that say how to run them.

A ```` ```python ```` or ```` ```bash ```` block runs as written. An HTML comment on the line
before the fence changes that (several markers may share one comment, separated by ``;``):

* ``<!-- requires: postgres redis mongodb kafka -->``: the block runs against the test suite's
  servers — every ``postgresql://…``, ``redis://…``, ``mongodb://…`` URL and Kafka bootstrap list in
  the block is replaced by the fixture server's, each run in a database / key prefix of its own;
  ``api``: ``https://fstore.example.com`` is a server with authentication on and the users
  ``root`` (admin) and ``ana`` (editor), password ``a long passphrase``;
* ``<!-- serves: 8000 -->``: the block starts a server on that port (e.g. ``fstore serve``) and
  runs until stopped: it runs in the background, the port replaced by a free one, until
  ``/health/live`` (or the path after the port: ``serves: 9400 /metrics``; ``https`` after it
  for TLS) answers, then is stopped;
* ``<!-- port: 8000 -->``: the block uses that port itself (starts and stops a server in it): the
  port is replaced by a free one;
* ``<!-- continues -->``: the block goes on from the page's block before it (skipped blocks
  aside): it runs in that block's directory, with its store and the files it wrote — a
  walkthrough of several blocks (docs/spark.md). Selected alone, the blocks before it run first;
  a chain's blocks use no server and no port;
* ``<!-- skip: reason -->``: not run, for a reason a reader can check (installs the project,
  or is the test command itself). Other languages (json, plain text) are never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = {"python", "bash"}
_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def words(self, marker: str) -> list[str]:
        return self.markers.get(marker, "").replace(",", " ").split()


def parse_markers(comment: str) -> dict[str, str]:
    markers: dict[str, str] = {}
    for part in comment.split(";"):
        name, _, value = part.partition(":")
        if name.strip():
            markers[name.strip()] = value.strip()
    return markers


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, language = opening.groups()
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == fence)
        previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        comment = _MARKER.match(previous.strip())
        markers = parse_markers(comment.group(1)) if comment else {}
        code = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(path, i + 1, language.lower(), code, markers))
        i = end + 1
    return found


def doc_files() -> list[Path]:
    """README.md and every page under docs/ (the generated reference pages are not in git)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def runnable_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks_of(path) if b.language in RUNNABLE]
