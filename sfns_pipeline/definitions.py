"""The one entry point of the code location: every job, asset, sensor and resource is reachable from here."""

import dagster as dg

from sfns_pipeline.settings import get_settings

settings = get_settings()  # invalid SFNS_* variables fail here, at code load, with a readable message

defs = dg.Definitions()
