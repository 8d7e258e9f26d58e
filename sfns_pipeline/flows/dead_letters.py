"""Operators' side of failures: the ``replay_dead_letters`` job and the run-failure email sensor.

Retrying dead letters — how a flow plugs in
-------------------------------------------
Each flow registers, once, a *replay handler*: a function that takes the flow's ledger entries and
tries their records again, returning one :class:`~sfns_pipeline.outcomes.RecordOutcome` per record
(usually by re-reading the records from the source by ``entry.source_id`` — or using ``entry.payload``
— and running the flow's own transform and write). It gets the op context, so it reaches the
resources it names in ``resource_keys`` as ``context.resources.<key>``::

    @register_replay(INVOICE_SYNC, resource_keys=("netsuite", "salesforce"))
    def replay_invoices(context: dg.OpExecutionContext, entries: list[DeadLetter]) -> list[RecordOutcome]:
        ...

The flow's module must be imported before ``definitions.py`` builds the job (it is: definitions imports
every flow). The same handler serves three doors:

- the Dagster UI: launch ``replay_dead_letters`` with config ``{flow: invoice_sync, ids: [...]}`` or
  ``{flow: invoice_sync, all: true}`` (all = open, retrying and needs-attention entries);
- the shell: ``sfns dead-letters retry invoice_sync --id 1234`` / ``--all`` runs that same job in process;
- flows' own runs retry *due* entries automatically (:func:`~.reporting.claim_dead_letters`), with
  backoff and a bounded number of attempts.

The replay's outcomes go through :func:`~.reporting.report_outcomes` like any run's: successes resolve
their dead letters, failures count an attempt and appear in a digest email.

Run failures
------------
``email_on_run_failure`` mails the error and the run link when any run of this code location fails
as a whole (auth, outage, a bug) — to the flow's recipients if the run carries the ``sfns/flow`` tag
(:func:`~.reporting.flow_tags`), else to the default list.
"""

# No ``from __future__ import annotations`` here: Dagster reads the op's config annotation as a real class.
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from sfns_pipeline.flows.reporting import FLOW_TAG, report_outcomes
from sfns_pipeline.ledger import DeadLetter
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.notify.messages import run_failure_email
from sfns_pipeline.notify.redaction import Redactor
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow, RecordOutcome
from sfns_pipeline.settings import get_settings

ReplayHandler = Callable[[dg.OpExecutionContext, list[DeadLetter]], Iterable[RecordOutcome]]


@dataclass(frozen=True)
class Replay:
    """How one flow retries its dead letters."""

    flow: Flow
    handler: ReplayHandler
    resource_keys: frozenset[str]


class ReplayRegistry:
    """Flow name → :class:`Replay`. Flows register into :data:`REPLAYS` with :func:`register_replay`."""

    def __init__(self) -> None:
        self._replays: dict[str, Replay] = {}

    def register(self, flow: Flow, *, resource_keys: Iterable[str] = ()) -> Callable[[ReplayHandler], ReplayHandler]:
        """Decorator: ``handler`` retries ``flow``'s dead letters using the named resources."""

        def decorate(handler: ReplayHandler) -> ReplayHandler:
            if flow.name in self._replays:
                raise ValueError(f"a replay handler for flow {flow.name!r} is already registered")
            self._replays[flow.name] = Replay(flow, handler, frozenset(resource_keys))
            return handler

        return decorate

    def unregister(self, flow_name: str) -> None:
        """Forget a flow's handler (for code that registers temporarily, like tests)."""
        self._replays.pop(flow_name, None)

    def get(self, flow_name: str) -> Replay:
        """The flow's replay, or ``dg.Failure`` naming the flows that have one."""
        try:
            return self._replays[flow_name]
        except KeyError:
            known = ", ".join(sorted(self._replays)) or "none"
            raise dg.Failure(f"No replay handler for flow {flow_name!r} (flows with one: {known})") from None

    def __iter__(self) -> Iterator[Replay]:
        return iter(list(self._replays.values()))

    @property
    def resource_keys(self) -> set[str]:
        """Every resource some handler names: the one replay op must require them all up front."""
        return {key for replay in self for key in replay.resource_keys}


REPLAYS = ReplayRegistry()
register_replay = REPLAYS.register


class ReplayConfig(dg.Config):
    """Which dead letters to retry."""

    flow: str = Field(description="Flow name, e.g. invoice_sync (its settings section).")
    ids: list[str] = Field(default=[], description="Source record ids to retry (as in the error email).")
    all: bool = Field(default=False, description="Retry every open, retrying and needs-attention entry.")


def build_replay_job(registry: ReplayRegistry = REPLAYS) -> dg.JobDefinition:
    """The ``replay_dead_letters`` job, able to retry every flow registered in ``registry``.

    Built after the flows registered (definitions.py), because its op must declare the resources
    of every handler.
    """

    @dg.op(
        name="replay",
        pool="netsuite",  # handlers re-read records from NetSuite: share the account's concurrency limit
        required_resource_keys={"ledger", "mailer", *registry.resource_keys},
        description="Retries the chosen dead letters of one flow through the flow's replay handler.",
    )
    def replay(context: dg.OpExecutionContext, config: ReplayConfig) -> None:
        if not config.ids and not config.all:
            raise dg.Failure("Say which dead letters to retry: ids: [...] or all: true")
        chosen = registry.get(config.flow)
        ledger: LedgerResource = context.resources.ledger
        store = ledger.ledger()
        entries = store.claim(config.flow, run_id=context.run.run_id, source_ids=None if config.all else config.ids)
        missing = set(config.ids) - {entry.source_id for entry in entries}
        if missing:
            context.log.warning(f"Not in the ledger or already resolved: {', '.join(sorted(missing))}")
        if not entries:
            context.log.info(f"{chosen.flow.title}: no dead letters to retry")
            return
        context.log.info(f"{chosen.flow.title}: retrying {len(entries)} dead letter(s)")
        try:
            outcomes = list(chosen.handler(context, entries))
        except BaseException:
            store.release_claims(config.flow, run_id=context.run.run_id)  # retry them later, no attempt counted
            raise
        context.add_output_metadata(
            report_outcomes(
                context, flow=chosen.flow, outcomes=outcomes, ledger=ledger, mailer=context.resources.mailer
            )
        )

    @dg.job(
        name="replay_dead_letters",
        description="Retry dead letters of one flow (config: flow and ids, or all: true).",
        executor_def=dg.in_process_executor,  # one op: a subprocess would only add start-up time
    )
    def replay_dead_letters() -> None:
        replay()

    return replay_dead_letters


def _run_error(context: dg.RunFailureSensorContext) -> str:
    """The failed steps' errors (with their causes), or the run's failure message when no step failed."""
    parts = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        chain = []
        while error is not None:
            chain.append(error.message.strip())
            error = error.cause
        parts.append(f"{event.step_key}: " + "\n  caused by: ".join(chain))
    return "\n\n".join(parts) or context.failure_event.message or "unknown error"


@dg.run_failure_sensor(
    name="email_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,  # alerting that must be switched on is alerting that is off
    description="Emails the error and a link when a run fails as a whole (auth, outage, a bug).",
)
def email_on_run_failure(context: dg.RunFailureSensorContext, mailer: MailerResource) -> None:
    """Sends the flow's recipients the failed run's error (secrets redacted) and a link to the run."""
    run = context.dagster_run
    flow_name = run.tags.get(FLOW_TAG)
    redactor = Redactor.from_environment(get_settings(), mailer.password)
    message = run_failure_email(
        job_name=run.job_name,
        run_id=run.run_id,
        run_url=mailer.run_url(run.run_id),
        error=redactor.text(_run_error(context)),
        flow_title=flow_name.replace("_", " ") if flow_name else None,
    )
    mailer.mailer(log=context.log).send(message, mailer.recipients_for(flow_name))
