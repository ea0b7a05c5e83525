"""Chromium for the browser tests: Debian's package, installed the way the infra installs PostgreSQL.

Playwright drives it through ``executable_path`` (its own browser download needs the internet).
``python -m followback.infra.browser`` installs it when missing and prints its path.
"""

from __future__ import annotations

import os
import shutil

from followback.infra.paths import InfraError, apt_install

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """``FOLLOWBACK_CHROMIUM``, else the first Chromium on the PATH."""
    configured = os.environ.get("FOLLOWBACK_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


def ensure_chromium() -> str:
    """A Chromium executable, installed with apt-get when missing (as root); raises InfraError else."""
    found = find_chromium()
    if found is None:
        apt_install(["chromium"], "Chromium (for the review queue's browser tests)")
        found = find_chromium()
    if found is None:
        raise InfraError("Chromium was installed but is not on the PATH; set FOLLOWBACK_CHROMIUM")
    return found


if __name__ == "__main__":
    try:
        print(ensure_chromium())
    except InfraError as error:
        raise SystemExit(f"error: {error}") from error
