"""Where the repository-level assets (migrations/, policies/) are, in a checkout or an image."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[3]


def project_dir(name: str) -> Path:
    """`CLOUDMART_<NAME>_DIR` if set; else `<repo>/<name>` in a checkout (editable install);
    else `./<name>` (the container image copies migrations/ and policies/ into its workdir)."""
    override = os.environ.get(f"CLOUDMART_{name.upper()}_DIR")
    if override:
        return Path(override)
    in_repo = _REPO_ROOT / name
    return in_repo if in_repo.is_dir() else Path.cwd() / name
