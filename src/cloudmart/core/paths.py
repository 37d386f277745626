"""Where the repository-level assets (migrations/, policies/) are, in a checkout or an image."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[3]


def project_dir(name: str) -> Path:
    """`CLOUDMART_<NAME>_DIR` if set (e.g. in a container image), else `<repo>/<name>`."""
    override = os.environ.get(f"CLOUDMART_{name.upper()}_DIR")
    return Path(override) if override else _REPO_ROOT / name
