"""The one entry point of the code location: every job, asset, sensor and resource is reachable from here."""

import dagster as dg

from sfns_pipeline.resources import build_resources
from sfns_pipeline.sandbox_profile import apply_sandbox_environment
from sfns_pipeline.settings import get_settings

apply_sandbox_environment()  # sandbox target: unset SFNS_* variables come from a running sandbox's endpoints.json
settings = get_settings()  # invalid SFNS_* variables fail here, at code load, with a readable message

defs = dg.Definitions(resources=build_resources(settings))
