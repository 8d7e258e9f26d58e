"""The code location loads, and every job, asset and sensor in it resolves: a broken import never lands."""

import dagster as dg

from sfns_pipeline.definitions import defs


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def test_every_job_resolves():
    repository = defs.get_repository_def()
    for job in repository.get_all_jobs():
        assert defs.resolve_job_def(job.name).name == job.name
    for sensor in repository.sensor_defs:
        assert sensor.name
