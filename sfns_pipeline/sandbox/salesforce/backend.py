"""The org's state and rules: records, validation, ids, DML, triggers (the moto "backend").

Nothing here knows about HTTP. Every DML call runs as an :class:`Actor` (the user behind the session)
inside a unit of work (:class:`_Batch`): records are staged, validated against the org definition and
committed together, so an ``allOrNone`` batch with one bad record leaves no trace. Committed writes are
persisted in one SQLite transaction and then run the org's triggers, which publish platform events.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.salesforce import errors
from sfns_pipeline.sandbox.salesforce.ids import make_id, normalize_id
from sfns_pipeline.sandbox.salesforce.schema import ADDRESS_COMPONENTS, FieldDef, ObjectDef, Org, Trigger
from sfns_pipeline.sandbox.salesforce.store import OrgStore
from sfns_pipeline.sandbox.salesforce.values import check_constraints, deserialize, format_datetime

log = logging.getLogger(__name__)

MAX_COLLECTION_SIZE = 200
STANDARD_PRICE_BOOK = "Standard Price Book"


class EventPublisher(Protocol):
    """What the backend needs from the event bus (``eventbus.EventBus`` satisfies it)."""

    def publish(self, topic: str, payload: dict) -> Any:
        """Append an event to ``topic``; returns the stored event (its UUID and replay id)."""


@dataclass(frozen=True)
class Actor:
    """The user a session runs as; ``integration`` marks the integration user (loop suppression)."""

    user_id: str
    username: str
    integration: bool


@dataclass(frozen=True)
class Write:
    """One committed change, as triggers see it."""

    operation: str  # "insert" | "update" | "delete"
    sobject: str
    record_id: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    actor: Actor


@dataclass
class RecordResult:
    """The outcome of one record of a DML call (Collections render these in request order)."""

    id: str | None = None
    created: bool | None = None
    error: errors.SalesforceError | None = None

    @property
    def success(self) -> bool:
        """Whether the record was written."""
        return self.error is None


@dataclass
class _Parsed:
    """A request body for one record: stored-form values and external-id references to parents."""

    values: dict[str, Any] = field(default_factory=dict)
    references: dict[str, tuple[ObjectDef, FieldDef, Any]] = field(default_factory=dict)


class _Batch:
    """Staged records of one DML call, visible to validation before they are committed."""

    def __init__(self, backend: SalesforceBackend) -> None:
        self.backend = backend
        self.staged: dict[str, dict[str, Any]] = {}
        self.writes: list[Write] = []

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.staged.get(record_id) or self.backend._records.get(record_id)

    def records_of(self, sobject: str) -> Iterator[dict[str, Any]]:
        committed = self.backend._by_type.get(sobject, {})
        for record_id, record in committed.items():
            yield self.staged.get(record_id, record)
        for record_id, record in self.staged.items():
            if record_id not in committed and self.backend.org.by_prefix(record_id[:3]).name == sobject:
                yield record

    def stage(self, write: Write) -> None:
        self.staged[write.record_id] = write.after
        self.writes.append(write)

    def savepoint(self) -> tuple[dict[str, dict[str, Any]], int]:
        return dict(self.staged), len(self.writes)

    def rollback_to(self, point: tuple[dict[str, dict[str, Any]], int]) -> None:
        self.staged, count = dict(point[0]), point[1]
        del self.writes[count:]


class SalesforceBackend:
    """The org: loads its definition and records, applies DML under the org's rules, runs triggers."""

    def __init__(self, org: Org, store: OrgStore, clock: SandboxClock, publisher: EventPublisher | None = None):
        self.org = org
        self.store = store
        self.clock = clock
        self.publisher = publisher
        self.lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        self._by_type: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        # (sobject, field) -> lower-cased value -> ids: external ids and unique fields, built on first use
        self._indexes: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self._meta = store.meta()
        self._dirty_meta: dict[str, str] = {}
        for record_id, sobject, data in store.load_records():
            self._records[record_id] = data
            self._by_type[sobject][record_id] = data
        self._rollup_fields = [
            (obj, f) for obj in org.objects.values() for f in obj.fields.values() if "sum" in (f.calculated or {})
        ]
        self.org_id = self._meta_value("org_id", lambda: make_id("00D", 1))
        self.actors = self._ensure_users()
        self._ensure_standard_price_book()

    # -- org bootstrap ----------------------------------------------------------------------------
    def _meta_value(self, key: str, make: Callable[[], str]) -> str:
        if key not in self._meta:
            self._meta[key] = make()
            self.store.put_meta({key: self._meta[key]})
        return self._meta[key]

    def meta_value(self, key: str, make: Callable[[], str]) -> str:
        """A persisted org-level value (credentials, keys), created by ``make`` on first use."""
        with self.lock:
            return self._meta_value(key, make)

    def _ensure_users(self) -> dict[str, Actor]:
        actors: dict[str, Actor] = {}
        users = self._by_type.get("User", {})
        batch = _Batch(self)
        for spec in self.org.users:
            existing = next((u for u in users.values() if u["Username"] == spec["Username"]), None)
            if existing is None:
                user_id = self._next_id("User")
                existing = {name: value for name, value in spec.items() if name[0].isupper()}
                existing |= self._system_values("User", user_id, user_id, created=True) | {"IsActive": True}
                batch.stage(Write("insert", "User", user_id, None, existing, Actor(user_id, spec["Username"], True)))
            actors[spec["key"]] = Actor(existing["Id"], existing["Username"], bool(spec.get("integration")))
        self._commit(batch, run_triggers=False)
        return actors

    def _ensure_standard_price_book(self) -> None:
        if any(p.get("IsStandard") for p in self._by_type.get("Pricebook2", {}).values()):
            return
        batch = _Batch(self)
        admin = self.actors[self.org.users[0]["key"]]
        record_id = self._next_id("Pricebook2")
        record = {"Name": STANDARD_PRICE_BOOK, "IsActive": True, "IsStandard": True, "Description": None}
        record |= self._system_values("Pricebook2", record_id, admin.user_id, created=True)
        batch.stage(Write("insert", "Pricebook2", record_id, None, record, admin))
        self._commit(batch, run_triggers=False)

    def actor(self, user_id: str) -> Actor | None:
        """The actor with this user id, or None."""
        return next((a for a in self.actors.values() if a.user_id == user_id), None)

    # -- ids and counters -------------------------------------------------------------------------
    def _counter(self, key: str) -> int:
        value = int(self._meta.get(key, "0")) + 1
        self._meta[key] = self._dirty_meta[key] = str(value)
        return value

    def _next_id(self, sobject: str) -> str:
        prefix = self.org.object(sobject).key_prefix
        return make_id(prefix, self._counter(f"seq:{prefix}"))

    def next_event_id(self, event: ObjectDef) -> str:
        """An id for a REST-published event (returned to the publisher, never delivered)."""
        with self.lock:
            event_id = make_id(event.key_prefix, self._counter(f"seq:{event.key_prefix}"))
            self.store.put_meta(self._take_dirty_meta())
            return event_id

    def _take_dirty_meta(self) -> dict[str, str]:
        dirty, self._dirty_meta = self._dirty_meta, {}
        return dirty

    # -- lookups ----------------------------------------------------------------------------------
    def sobject(self, name: str) -> ObjectDef:
        """The sObject or platform event called ``name``; NOT_FOUND (as Salesforce's URL routing says) otherwise."""
        obj = self.org.object(name)
        if obj is None:
            raise errors.NotAnObject(name)
        return obj

    def record(self, record_id: str) -> dict[str, Any] | None:
        """A committed record (including deleted ones) by 18-character id."""
        return self._records.get(record_id)

    def records_of(self, sobject: str) -> list[dict[str, Any]]:
        """Committed records of a type, oldest first (a snapshot: safe to iterate while others write)."""
        with self.lock:
            return list(self._by_type.get(sobject, {}).values())

    def find_by(self, obj: ObjectDef, fdef: FieldDef, value: Any, batch: _Batch | None = None) -> list[dict]:
        """Live records whose ``fdef`` equals ``value`` (case-insensitive for text, like external ids)."""
        if fdef.name == "Id":
            record_id = normalize_id(str(value))
            record = (batch.get(record_id) if batch else self._records.get(record_id)) if record_id else None
            return [record] if record and record_id[:3] == obj.key_prefix and not record["IsDeleted"] else []
        wanted = _match_key(value)
        if fdef.external_id or fdef.unique or fdef.id_lookup:
            committed = self._index(obj.name, fdef.name).get(wanted, set())
            source = [batch.get(i) if batch else self._records[i] for i in sorted(committed)]
            if batch is not None:
                source += [r for i, r in batch.staged.items() if i not in committed and i[:3] == obj.key_prefix]
        else:
            source = batch.records_of(obj.name) if batch else self._by_type.get(obj.name, {}).values()
        return [r for r in source if not r["IsDeleted"] and _match_key(r.get(fdef.name)) == wanted]

    def _index(self, sobject: str, field_name: str) -> dict[Any, set[str]]:
        key = (sobject, field_name)
        if key not in self._indexes:
            index: dict[Any, set[str]] = defaultdict(set)
            for record_id, record in self._by_type.get(sobject, {}).items():
                if record.get(field_name) is not None:
                    index[_match_key(record[field_name])].add(record_id)
            self._indexes[key] = index
        return self._indexes[key]

    def _reindex(self, sobject: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        for (indexed_type, field_name), index in self._indexes.items():
            if indexed_type != sobject:
                continue
            if old is not None and old.get(field_name) is not None:
                index[_match_key(old[field_name])].discard(old["Id"])
            if new.get(field_name) is not None:
                index[_match_key(new[field_name])].add(new["Id"])

    def external_id_field(self, obj: ObjectDef, name: str) -> FieldDef:
        """The field to upsert or look up by; 404 when unknown, 400 when not an external id."""
        fdef = obj.field(name)
        if fdef is None:
            raise errors.NotFound(f"Provided external ID field does not exist or is not accessible: {name}")
        if not (fdef.external_id or fdef.id_lookup or fdef.name == "Id"):
            raise errors.InvalidField(f"Field {fdef.name} is not an External ID or indexed field for {obj.name}")
        return fdef

    # -- request parsing (request-level errors) ---------------------------------------------------
    def parse_body(self, obj: ObjectDef, body: Any) -> _Parsed:
        """Field names and JSON types of one record; unknown fields fail the whole request, as in Salesforce."""
        if not isinstance(body, dict):
            raise errors.JsonParserError("Unexpected parameter encountered during deserialization")
        parsed = _Parsed()
        for key, raw in body.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None:
                relation = obj.relationship(key)
                if relation is None or not isinstance(raw, dict):
                    raise errors.InvalidField(f"No such column '{key}' on sobject of type {obj.name}")
                parsed.references[relation.name] = self._parse_foreign_key(relation, raw)
                continue
            parsed.values[fdef.name] = deserialize(fdef, raw)
        return parsed

    def _parse_foreign_key(self, relation: FieldDef, raw: dict) -> tuple[ObjectDef, FieldDef, Any]:
        target = self.org.object(relation.reference_to)
        keys = [k for k in raw if k != "attributes"]
        if len(keys) != 1:
            raise errors.InvalidField(
                f"Only one external ID field may be given for the foreign key {relation.relationship_name}"
            )
        fdef = target.field(keys[0])
        if fdef is None:
            raise errors.InvalidField(f"No such column '{keys[0]}' on sobject of type {target.name}")
        if not (fdef.external_id or fdef.id_lookup or fdef.name == "Id"):
            raise errors.InvalidField(
                f"The field {fdef.name} is not an external ID or indexed field for {target.name}", fields=[fdef.name]
            )
        return target, fdef, raw[keys[0]]

    # -- DML (record-level errors) ----------------------------------------------------------------
    def _stage_insert(self, batch: _Batch, obj: ObjectDef, parsed: _Parsed, actor: Actor) -> str:
        if not obj.createable or obj.is_event:
            raise errors.SalesforceError(f"entity type {obj.name} does not support insert", error_code="INVALID_TYPE")
        readonly = [name for name in parsed.values if not obj.field(name).writable_on_insert]
        if readonly:
            raise errors.ReadOnlyField(readonly)
        values = self._resolved_values(batch, obj, parsed)
        record_id = self._next_id(obj.name)
        record = {f.name: f.default for f in obj.fields.values() if not f.computed and not f.system}
        record |= {name: value for name, value in values.items() if value is not None}
        record |= self._system_values(obj.name, record_id, actor.user_id, created=True)
        if obj.field("OwnerId") is not None:
            record["OwnerId"] = values.get("OwnerId") or actor.user_id
        for fdef in obj.fields.values():
            if fdef.derive and record.get(fdef.name) is None and "." in fdef.derive:
                record[fdef.name] = self._follow(batch, obj, record, fdef.derive)
            if fdef.auto_number:
                record[fdef.name] = _auto_number(fdef.auto_number, self._counter(f"auto:{obj.name}.{fdef.name}"))
        self._finish(batch, obj, None, record, actor)
        batch.stage(Write("insert", obj.name, record_id, None, record, actor))
        return record_id

    def _stage_update(self, batch: _Batch, obj: ObjectDef, record_id: str, parsed: _Parsed, actor: Actor) -> None:
        current = self._live(batch, obj, record_id)
        readonly = [name for name in parsed.values if not (obj.field(name).updateable and obj.field(name).createable)]
        readonly = [name for name in readonly if parsed.values[name] != current.get(name) or obj.field(name).computed]
        if readonly:
            raise errors.ReadOnlyField(readonly)
        values = self._resolved_values(batch, obj, parsed)
        record = {**current, **values}
        record |= self._system_values(obj.name, record_id, actor.user_id, created=False)
        self._finish(batch, obj, current, record, actor)
        batch.stage(Write("update", obj.name, record_id, current, record, actor))

    def _stage_delete(self, batch: _Batch, obj: ObjectDef, record_id: str, actor: Actor) -> None:
        current = self._live(batch, obj, record_id)
        record = {**current, "IsDeleted": True} | self._system_values(obj.name, record_id, actor.user_id, False)
        batch.stage(Write("delete", obj.name, record_id, current, record, actor))

    def _live(self, batch: _Batch, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        normalized = normalize_id(record_id)
        if normalized is None:
            raise errors.MalformedId(f"{obj.name} ID: id value of incorrect type: {record_id}", fields=["Id"])
        current = batch.get(normalized)
        if current is None or normalized[:3] != obj.key_prefix:
            raise errors.NotFound()
        if current["IsDeleted"]:
            raise errors.EntityIsDeleted()
        return current

    def _resolved_values(self, batch: _Batch, obj: ObjectDef, parsed: _Parsed) -> dict[str, Any]:
        values = dict(parsed.values)
        for name, (target, fdef, value) in parsed.references.items():
            matches = self.find_by(target, fdef, value, batch)
            if not matches:
                raise errors.InvalidField(
                    f"Foreign key external ID: {value} not found for field {fdef.name} in entity {target.name}",
                    fields=[],
                )
            if len(matches) > 1:
                raise errors.DuplicateExternalId(
                    f"Foreign key external ID: {value} matched more than one record for field {fdef.name} "
                    f"in entity {target.name}"
                )
            values[name] = matches[0]["Id"]
        for name, value in values.items():
            fdef = obj.field(name)
            check_constraints(fdef, value)
            if fdef.type == "reference" and value is not None:
                values[name] = self._check_reference(batch, fdef, value)
        return values

    def _check_reference(self, batch: _Batch, fdef: FieldDef, value: str) -> str:
        record_id = normalize_id(value)
        target = self.org.object(fdef.reference_to)
        if record_id[:3] != target.key_prefix:
            raise errors.FieldIntegrity(f"{fdef.label} ID: id value of incorrect type: {value}", fields=[fdef.name])
        parent = batch.get(record_id)
        if parent is None or parent["IsDeleted"]:
            raise errors.InvalidCrossReferenceKey("invalid cross reference id", fields=[fdef.name])
        return record_id

    def _finish(self, batch: _Batch, obj: ObjectDef, before: dict | None, record: dict, actor: Actor) -> None:
        """Checks that need the whole record: required fields, unique values, the standard objects' rules."""
        missing = [f.name for f in obj.fields.values() if f.required and record.get(f.name) in (None, "")]
        if missing:
            raise errors.RequiredFieldMissing(missing)
        for fdef in obj.fields.values():
            value = record.get(fdef.name)
            if fdef.unique and value not in (None, ""):
                clash = next((r for r in self.find_by(obj, fdef, value, batch) if r["Id"] != record["Id"]), None)
                if clash is not None:
                    raise errors.DuplicateValue(fdef.name, clash["Id"])
        _STANDARD_RULES.get(obj.name, _no_rule)(self, batch, before, record, actor)

    def _system_values(self, sobject: str, record_id: str, user_id: str, created: bool) -> dict[str, Any]:
        now = format_datetime(self.clock.now())
        values = {"Id": record_id, "LastModifiedDate": now, "LastModifiedById": user_id, "SystemModstamp": now}
        if created:
            values |= {"IsDeleted": False, "CreatedDate": now, "CreatedById": user_id}
        return values

    def _follow(self, batch: _Batch | None, obj: ObjectDef, record: dict, path: str) -> Any:
        """The value at a relationship path (``Account__r.NetSuite_Customer_Id__c``) from ``record``."""
        *relations, last = path.split(".")
        for relation_name in relations:
            relation = obj.relationship(relation_name)
            parent_id = record.get(relation.name)
            record = (batch.get(parent_id) if batch else self._records.get(parent_id)) if parent_id else None
            if record is None:
                return None
            obj = self.org.object(relation.reference_to)
        return record.get(obj.field(last).name) if last != "Id" else record["Id"]

    # -- public DML -------------------------------------------------------------------------------
    def create(self, sobject: str, body: Any, actor: Actor) -> str:
        """Insert one record; raises the record's error."""
        obj = self.sobject(sobject)
        parsed = self.parse_body(obj, body)
        with self.lock:
            batch = _Batch(self)
            record_id = self._stage_insert(batch, obj, parsed, actor)
            self._commit(batch)
        return record_id

    def update(self, sobject: str, record_id: str, body: Any, actor: Actor) -> None:
        """Update one record by id."""
        obj = self.sobject(sobject)
        parsed = self.parse_body(obj, body)
        with self.lock:
            batch = _Batch(self)
            self._stage_update(batch, obj, record_id, parsed, actor)
            self._commit(batch)

    def delete(self, sobject: str, record_id: str, actor: Actor) -> None:
        """Soft-delete one record (``queryAll`` still sees it, like the recycle bin)."""
        obj = self.sobject(sobject)
        with self.lock:
            batch = _Batch(self)
            self._stage_delete(batch, obj, record_id, actor)
            self._commit(batch)

    def upsert(self, sobject: str, field_name: str, value: str, body: Any, actor: Actor) -> tuple[str, bool]:
        """Insert or update by external id; returns ``(id, created)``; 300 on several matches."""
        obj = self.sobject(sobject)
        fdef = self.external_id_field(obj, field_name)
        parsed = self.parse_body(obj, body)
        with self.lock:
            batch = _Batch(self)
            result = self._stage_upsert(batch, obj, fdef, value, parsed, actor, single=True)
            self._commit(batch)
        return result

    def _stage_upsert(
        self, batch: _Batch, obj: ObjectDef, fdef: FieldDef, value: Any, parsed: _Parsed, actor: Actor, single: bool
    ) -> tuple[str, bool]:
        matches = self.find_by(obj, fdef, value, batch)
        if len(matches) > 1:
            if single:
                raise errors.MultipleMatches([self.record_url(obj.name, r["Id"]) for r in matches])
            raise errors.DuplicateExternalId(
                f"{fdef.name}: more than one record found for external id field: "
                + str([r["Id"] for r in matches]).replace("'", "")
            )
        if matches:
            parsed.values.pop(fdef.name, None)
            self._stage_update(batch, obj, matches[0]["Id"], parsed, actor)
            return matches[0]["Id"], False
        if fdef.name == "Id":
            raise errors.NotFound()
        parsed.values.setdefault(fdef.name, deserialize(fdef, value))
        return self._stage_insert(batch, obj, parsed, actor), True

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        """A live record by id; 404 NOT_FOUND / ENTITY_IS_DELETED otherwise."""
        obj = self.sobject(sobject)
        with self.lock:
            return self._live(_Batch(self), obj, record_id)

    def get_by_external_id(self, sobject: str, field_name: str, value: str) -> dict[str, Any]:
        """A live record by external id; 300 when several match."""
        obj = self.sobject(sobject)
        fdef = self.external_id_field(obj, field_name)
        with self.lock:
            matches = self.find_by(obj, fdef, value)
        if not matches:
            raise errors.NotFound()
        if len(matches) > 1:
            raise errors.MultipleMatches([self.record_url(obj.name, r["Id"]) for r in matches])
        return matches[0]

    def changes(self, sobject: str, start: datetime, end: datetime, *, deleted: bool) -> list[dict[str, Any]]:
        """Records (live or deleted) last modified in ``[start, end)``: the getUpdated/getDeleted replication calls."""
        obj = self.sobject(sobject)
        low, high = format_datetime(start), format_datetime(end)  # one format: compares as text
        return [r for r in self.records_of(obj.name) if r["IsDeleted"] == deleted and low <= r["SystemModstamp"] < high]

    # -- sObject Collections ----------------------------------------------------------------------
    def collection(
        self,
        operation: str,
        records: list[Any],
        actor: Actor,
        *,
        all_or_none: bool,
        sobject: str | None = None,
        external_id: str | None = None,
    ) -> list[RecordResult]:
        """Create, update or upsert up to 200 records with independent outcomes (or all-or-none)."""
        if len(records) > MAX_COLLECTION_SIZE:
            raise errors.SalesforceError(
                f"Maximum number of records allowed is {MAX_COLLECTION_SIZE}. You sent {len(records)}.",
                error_code="EXCEEDED_ID_LIMIT",
            )
        jobs = [self._collection_job(operation, record, sobject, external_id) for record in records]
        duplicates = _duplicate_keys(jobs) if operation == "upsert" else set()

        def step(job) -> Callable[[_Batch], RecordResult]:
            obj, parsed, key = job

            def run(batch: _Batch) -> RecordResult:
                if key is not None and _match_key(key[1]) in duplicates:
                    raise errors.DuplicateExternalId(f"Duplicate external id specified: {key[1]}", fields=[])
                return self._collection_record(batch, operation, obj, parsed, key, actor)

            return run

        return self._each_record([step(job) for job in jobs], all_or_none)

    def collection_delete(self, ids: list[str], actor: Actor, *, all_or_none: bool) -> list[RecordResult]:
        """Delete up to 200 records of any types by id."""
        if len(ids) > MAX_COLLECTION_SIZE:
            raise errors.SalesforceError(
                f"Maximum number of records allowed is {MAX_COLLECTION_SIZE}. You sent {len(ids)}.",
                error_code="EXCEEDED_ID_LIMIT",
            )

        def step(raw: str) -> Callable[[_Batch], RecordResult]:
            def run(batch: _Batch) -> RecordResult:
                record_id = normalize_id(raw)
                obj = self.org.by_prefix(record_id[:3]) if record_id else None
                if obj is None:
                    raise errors.MalformedId(f"invalid record id: {raw}")
                self._stage_delete(batch, obj, record_id, actor)
                return RecordResult(id=record_id)

            return run

        return self._each_record([step(raw) for raw in ids], all_or_none)

    def _each_record(self, steps: list[Callable[[_Batch], RecordResult]], all_or_none: bool) -> list[RecordResult]:
        """Run each record in one unit of work; a failing record is undone alone, or all are (allOrNone)."""
        results: list[RecordResult] = []
        with self.lock:
            batch = _Batch(self)
            for run in steps:
                point = batch.savepoint()
                try:
                    results.append(run(batch))
                except errors.SalesforceError as exc:
                    batch.rollback_to(point)
                    results.append(RecordResult(error=exc))
            if all_or_none and not all(r.success for r in results):
                self.store.put_meta(self._take_dirty_meta())
                return [r if not r.success else RecordResult(error=errors.RolledBack()) for r in results]
            self._commit(batch)
        return results

    def _collection_job(
        self, operation: str, record: Any, sobject: str | None, external_id: str | None
    ) -> tuple[ObjectDef, _Parsed, tuple[FieldDef, Any] | None]:
        """Parse one record of a Collections call; ``key`` is the (field, value) it is matched by, if any."""
        if not isinstance(record, dict):
            raise errors.JsonParserError("Each record must be a JSON object")
        type_name = sobject or (record.get("attributes") or {}).get("type")
        if not type_name:
            raise errors.SalesforceError(
                "When providing records, each record must have an attributes.type", error_code="INVALID_FIELD"
            )
        obj = self.sobject(type_name)
        key_field = {"upsert": external_id, "update": "Id"}.get(operation)
        if key_field is None:
            return obj, self.parse_body(obj, record), None
        fdef = self.external_id_field(obj, key_field)
        value = next((v for k, v in record.items() if k.lower() == fdef.name.lower()), None)
        body = {k: v for k, v in record.items() if not (operation == "update" and k.lower() == "id")}
        return obj, self.parse_body(obj, body), (fdef, value)

    def _collection_record(
        self,
        batch: _Batch,
        operation: str,
        obj: ObjectDef,
        parsed: _Parsed,
        key: tuple[FieldDef, Any] | None,
        actor: Actor,
    ) -> RecordResult:
        if key is None:
            return RecordResult(id=self._stage_insert(batch, obj, parsed, actor))
        fdef, value = key
        if value in (None, ""):
            raise errors.SalesforceError(
                f"Missing value for {fdef.name} field", error_code="MISSING_ARGUMENT", fields=[fdef.name]
            )
        if operation == "update":
            self._stage_update(batch, obj, str(value), parsed, actor)
            return RecordResult(id=normalize_id(str(value)))
        record_id, created = self._stage_upsert(batch, obj, fdef, value, parsed, actor, single=False)
        return RecordResult(id=record_id, created=created)

    # -- commit and triggers ----------------------------------------------------------------------
    def _commit(self, batch: _Batch, run_triggers: bool = True) -> None:
        if not batch.writes:
            self.store.put_meta(self._take_dirty_meta())
            return
        changed: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for write in batch.writes:
            self._put(write.sobject, write.after)
            changed[write.record_id] = (write.record_id, write.sobject, write.after)
        for parent in self._roll_up(batch.writes):
            changed[parent["Id"]] = (parent["Id"], self.org.by_prefix(parent["Id"][:3]).name, parent)
        self.store.save_records(changed.values(), self._take_dirty_meta())
        if run_triggers:
            for write in batch.writes:
                self._run_triggers(write)

    def _put(self, sobject: str, record: dict[str, Any]) -> None:
        self._reindex(sobject, self._records.get(record["Id"]), record)
        self._records[record["Id"]] = record
        self._by_type[sobject][record["Id"]] = record

    def _roll_up(self, writes: list[Write]) -> list[dict[str, Any]]:
        """Recalculate the stored roll-up summaries (Order.TotalAmount) of parents whose children changed."""
        updated: list[dict[str, Any]] = []
        for parent_obj, fdef in self._rollup_fields:
            relationship, child_field = fdef.calculated["sum"]
            rel = parent_obj.child(relationship)
            changed = [record for w in writes if w.sobject == rel.child for record in (w.before or {}, w.after)]
            totals = dict.fromkeys({record[rel.field] for record in changed if record.get(rel.field)}, 0.0)
            if not totals:
                continue
            child_obj = self.org.object(rel.child)
            child_fdef = child_obj.field(child_field)
            for child in self._by_type.get(rel.child, {}).values():
                if child.get(rel.field) in totals and not child["IsDeleted"]:
                    totals[child[rel.field]] += self.value(child_obj, child, child_fdef) or 0.0
            for parent_id, total in totals.items():
                if parent_id in self._records:
                    parent = {**self._records[parent_id], fdef.name: round(total, 2)}
                    self._put(parent_obj.name, parent)
                    updated.append(parent)
        return updated

    def _run_triggers(self, write: Write) -> None:
        for trigger in self.org.triggers_for(write.sobject, write.operation):
            if not _fires(trigger, write):
                continue
            payload = {name: self._trigger_value(write, path) for name, path in trigger.payload.items()}
            payload["CreatedById"] = write.actor.user_id
            if self.publisher is None:
                log.warning("no event bus: %s for %s not published", trigger.event, write.record_id)
                continue
            self.publisher.publish(trigger.event, payload)

    def _trigger_value(self, write: Write, path: str) -> Any:
        if path == "$change":
            return self.org.change_types[write.operation]
        return self._follow(None, self.org.object(write.sobject), write.after, path)

    def publish_event(self, event_name: str, body: Any, actor: Actor) -> tuple[str, Any]:
        """Publish a platform event from a REST insert; returns ``(event id, PublishedEvent)``."""
        event = self.org.object(event_name)
        parsed = self.parse_body(event, body)
        readonly = [name for name in parsed.values if not event.field(name).createable]
        if readonly:
            raise errors.ReadOnlyField(readonly)
        for name, value in parsed.values.items():
            check_constraints(event.field(name), value)
        if self.publisher is None:
            raise errors.ServerUnavailable()
        published = self.publisher.publish(event.name, {**parsed.values, "CreatedById": actor.user_id})
        return self.next_event_id(event), published

    # -- reading ----------------------------------------------------------------------------------
    def record_url(self, sobject: str, record_id: str, version: str | None = None) -> str:
        """The REST URL of a record (default API version unless given)."""
        return f"/services/data/v{version or self.org.default_api_version}/sobjects/{sobject}/{record_id}"

    def value(self, obj: ObjectDef, record: dict[str, Any], fdef: FieldDef) -> Any:
        """A field's value as the API shows it, computing roll-ups, formulas and compound addresses."""
        if fdef.address:
            parts = {part: record.get(f"{fdef.address}{part}") for part, _, _ in ADDRESS_COMPONENTS}
            if all(v is None for v in parts.values()):
                return None
            return {part[0].lower() + part[1:]: value for part, value in parts.items()}
        if fdef.calculated and "sum" not in fdef.calculated:  # roll-up summaries are stored, as in Salesforce
            return self._calculate(record, fdef.calculated)
        if fdef.calculated:
            return record.get(fdef.name) or 0.0
        return record.get(fdef.name)

    def _calculate(self, record: dict[str, Any], formula: dict[str, list[str]]) -> Any:
        if "product" in formula:
            factors = [record.get(name) for name in formula["product"]]
            if any(f is None for f in factors):
                return None
            result = 1.0
            for factor in factors:
                result *= factor
            return round(result, 2)
        if "concat" in formula:
            return " ".join(str(record[n]) for n in formula["concat"] if record.get(n)) or None
        raise ValueError(f"unknown formula {formula}")

    def render(self, obj: ObjectDef, record: dict[str, Any], version: str) -> dict[str, Any]:
        """A whole record in the REST shape: ``attributes`` then every field."""
        rendered: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": self.record_url(obj.name, record["Id"], version)}
        }
        with self.lock:
            for fdef in obj.fields.values():
                rendered[fdef.name] = self.value(obj, record, fdef)
        return rendered


def _match_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _auto_number(display_format: str, number: int) -> str:
    start, end = display_format.index("{"), display_format.index("}")
    width = end - start - 1
    return f"{display_format[:start]}{number:0{width}d}{display_format[end + 1 :]}"


def _duplicate_keys(jobs: list) -> set:
    seen: dict[Any, int] = defaultdict(int)
    for _, _, key in jobs:
        if key is not None and key[1] not in (None, ""):
            seen[_match_key(key[1])] += 1
    return {value for value, count in seen.items() if count > 1}


def _fires(trigger: Trigger, write: Write) -> bool:
    after, before = write.after, write.before or {}
    if trigger.when_field is not None:
        becomes = after.get(trigger.when_field) == trigger.when_becomes
        if not becomes or before.get(trigger.when_field) == trigger.when_becomes:
            return False
    if write.actor.integration:
        system = {"LastModifiedDate", "LastModifiedById", "SystemModstamp"}
        changed = {name for name, value in after.items() if name not in system and before.get(name) != value}
        owned = trigger.integration_owned_fields
        if all(any(fnmatch.fnmatchcase(name, pattern) for pattern in owned) for name in changed):
            return False  # the integration writing back its own fields: publishing would loop
    return True


def _no_rule(backend: SalesforceBackend, batch: _Batch, before: dict | None, record: dict, actor: Actor) -> None:
    return None


def _order_rules(backend: SalesforceBackend, batch: _Batch, before: dict | None, record: dict, actor: Actor) -> None:
    """Activation stamps ActivatedDate; an activated order keeps its account; an order with products its price book."""
    record["StatusCode"] = record.get("Status")
    if before and before.get("Status") != "Draft" and before.get("AccountId") != record.get("AccountId"):
        raise errors.FieldIntegrity(
            "field integrity exception: AccountId (cannot change account on an activated order)", fields=["AccountId"]
        )
    if record.get("Status") == "Activated" and (before or {}).get("Status") != "Activated":
        record["ActivatedDate"] = format_datetime(backend.clock.now())
    if before and before.get("Pricebook2Id") != record.get("Pricebook2Id"):
        has_items = any(
            item.get("OrderId") == record["Id"] and not item["IsDeleted"] for item in batch.records_of("OrderItem")
        )
        if has_items:
            raise errors.FieldIntegrity(
                "field integrity exception: Pricebook2Id (cannot change pricebook on order with line items)",
                fields=["Pricebook2Id"],
            )


def _order_item_rules(
    backend: SalesforceBackend, batch: _Batch, before: dict | None, record: dict, actor: Actor
) -> None:
    """A product line must come from the order's price book (Salesforce's PricebookEntryId integrity rule)."""
    if before is not None:
        return
    order = batch.get(record["OrderId"])
    entry = batch.get(record["PricebookEntryId"])
    if order is None or entry is None or order.get("Pricebook2Id") != entry.get("Pricebook2Id"):
        raise errors.FieldIntegrity(
            "field integrity exception: PricebookEntryId (pricebook entry is in a different pricebook than the one "
            "assigned to the Order, or Order has no pricebook assigned)",
            fields=["PricebookEntryId"],
        )


_STANDARD_RULES: dict[str, Callable[..., None]] = {"Order": _order_rules, "OrderItem": _order_item_rules}
