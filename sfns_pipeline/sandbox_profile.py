"""Turn the sandbox's ``endpoints.json`` into ``SFNS_*`` settings, so sandbox and production share one code path.

The pipeline reads only this file, never the sandbox package: pointing it at real systems means
setting the same variables by hand (see README, "Point it at real systems").
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def sandbox_environment(endpoints_file: Path) -> dict[str, str]:
    """``SFNS_*`` variables describing the running sandboxes (URLs, CA file, sandbox credentials)."""
    endpoints = json.loads(Path(endpoints_file).read_text())
    environment = {"SFNS_TARGET": "sandbox", "SFNS_CA_BUNDLE": endpoints["ca_cert"]}
    for section, mapping in _SECTIONS.items():
        values = endpoints.get(section) or {}
        environment |= {variable: str(values[key]) for key, variable in mapping.items() if values.get(key) is not None}
    return environment


# endpoints.json section -> {key in that section: SFNS_ variable}
_SECTIONS: dict[str, dict[str, str]] = {
    "smtp": {"host": "SFNS_EMAIL_SMTP_HOST", "port": "SFNS_EMAIL_SMTP_PORT"},
}


def apply_sandbox_environment(environ: dict[str, str] | None = None) -> Path | None:
    """With ``SFNS_TARGET=sandbox`` (the default), fill unset ``SFNS_*`` variables from a running sandbox.

    Variables already set win, so one can point a single system elsewhere. Returns the endpoints file
    used, or None (production target, or no sandbox running).
    """
    env = os.environ if environ is None else environ
    if env.get("SFNS_TARGET", "sandbox") != "sandbox":
        return None
    state_dir = Path(env.get("SFNS_STATE_DIR", ".sfns"))
    endpoints_file = Path(env.get("SFNS_SANDBOX_DIR", state_dir / "sandbox")) / "endpoints.json"
    if not endpoints_file.exists():
        return None
    for variable, value in sandbox_environment(endpoints_file).items():
        env.setdefault(variable, value)
    return endpoints_file
