"""The repository explains itself: no tracked source, benchmark or doc points at a file outside it (notes kept next
to the repository are not shipped with it, so a reader of a clone could not follow such a reference)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# a path that climbs out of the repository into the notes next to it, or a note file named on its own
_OUTSIDE = re.compile(r"\.\./shared/|\bshared/reference/|\bpeer-ingest\.md\b|\bDESIGN\.md\b")
_SUFFIXES = {".py", ".md", ".c", ".h", ".toml", ".yml", ".yaml", ".sh", ".json", ".cfg", ".txt"}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p and Path(p).suffix in _SUFFIXES]


def test_no_tracked_file_cites_a_file_outside_the_repository() -> None:
    files = [p for p in tracked_files() if p.is_file() and p != Path(__file__).resolve()]
    assert len(files) > 100  # the tree was listed
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
        for p in files
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
