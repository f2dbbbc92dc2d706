"""Which code made a result: the package version and, in a git checkout, the commit and whether the source
had uncommitted changes.

Study stages are cached by their command and config contents, not by the code that ran them (a new commit
would otherwise retrain every base model). So each stage records the code that made it, the study report
lists it, and a rerun that reuses a stage made by other code says so: a reader can tell which results came
from which code, and delete the stages that a fix should remake.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import interplay


@functools.cache
def code_version(root: Path | None = None) -> str:
    """"interplay 0.1.0 (git 1a2b3c4d5e6f)", with "+ uncommitted changes" when tracked files under the
    checkout's src/ differ from that commit; the version alone outside a git checkout (an installed wheel)
    or when git is missing."""
    version = f"interplay {interplay.__version__}"
    root = Path(root) if root is not None else Path(interplay.__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return version
    try:
        sha = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} (git {sha}{' + uncommitted changes' if dirty else ''})"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=20).stdout.strip()
