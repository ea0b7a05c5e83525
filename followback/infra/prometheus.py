"""Prometheus for the scrape test: Debian's package, installed the way the browser tests get Chromium.

The test runs the shipped ``deploy/prometheus/prometheus.yml`` (targets rewritten to the test's
ports) with a real Prometheus, and checks the file with ``promtool``, which the package ships too.
``python -m followback.infra.prometheus`` installs it when missing and prints its path.
"""

from __future__ import annotations

import os
import shutil

from followback.infra.paths import InfraError, apt_install


def find_prometheus() -> str | None:
    """``FOLLOWBACK_PROMETHEUS``, else ``prometheus`` on the PATH."""
    configured = os.environ.get("FOLLOWBACK_PROMETHEUS")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("prometheus")


def find_promtool() -> str | None:
    """``promtool`` beside the Prometheus found, else on the PATH."""
    server = find_prometheus()
    if server:
        beside = os.path.join(os.path.dirname(server), "promtool")
        if os.access(beside, os.X_OK):
            return beside
    return shutil.which("promtool")


def ensure_prometheus() -> str:
    """A Prometheus executable, installed with apt-get when missing (as root); raises InfraError else."""
    found = find_prometheus()
    if found is None:
        apt_install(["prometheus"], "Prometheus (for the scrape configuration's test)")
        found = find_prometheus()
    if found is None:
        raise InfraError("Prometheus was installed but is not on the PATH; set FOLLOWBACK_PROMETHEUS")
    return found


if __name__ == "__main__":
    try:
        print(ensure_prometheus())
    except InfraError as error:
        raise SystemExit(f"error: {error}") from error
