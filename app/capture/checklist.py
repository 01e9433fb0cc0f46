"""The Real SIM test: the vendor's "1NCE SIM Device" steps as a checklist that ticks itself.

The 1NCE HTTP/Webhook page tests an integration with a real SIM in a device: it attaches (the
first events: Update location, Update GPRS location, Create PDP Context), a data session is
closed (only then is its usage recorded), an SMS is sent or received (one usage record per SMS;
the 2024/25 SMS events too). :class:`Checklist` finds the first record of each step in a capture
with the filter language (on ``record_index`` where the receiver has indexed, on the JSON after
that), looking only at records it has not looked at yet, so it can follow a growing capture.

Only what arrived at this endpoint counts: records of requests answered 200, received (not
imported), and not a ``check`` request (``X-Streamer-Inspector-Check``). It works on simulated
records as on real ones; nothing here tells them apart. Qt-free: the window runs it on its
reader thread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.capture.schema import has_ledger
from app.db import sqlite3
from app.filters.lexer import filter_literal
from app.filters.parser import parse

CHECK_HEADER = "X-Streamer-Inspector-Check"


@dataclass(frozen=True)
class Step:
    """One step of the test: what it waits for (a record filter over some families)."""

    key: str
    title: str
    filter: str  # in the filter language (docs/filters.md)
    families: tuple[str, ...]
    hint: str  # one line while it is still waiting


STEPS: tuple[Step, ...] = (
    Step("attach", "The device attaches to the network",
         # 1 Update location, 2 Update GPRS location, 3 Create PDP Context (not rejected)
         "type_id == 1 or type_id == 2 or (type_id == 3 and not alert)", ("event",),
         "Put the SIM in the device, allow roaming and set the APN iot.1nce.net: once it is "
         "attached, Update location / Update GPRS location / Create PDP Context arrive."),
    Step("data", "A data session closes (its usage record)",
         "type_id == 5", ("usage",),
         "Usage is only recorded after a data session has been closed: use some data, then "
         "toggle airplane mode (or data roaming) off and on."),
    Step("sms", "An SMS (its usage record or SMS event)",
         "family == usage and type_id == 6 or family == sms_dr or family == sms_mo",
         ("usage", "sms_dr", "sms_mo"),
         "Send an SMS from the device or to it (e.g. from the 1NCE Portal): each SMS makes a "
         "usage record after a while."),
)


@dataclass(frozen=True)
class StepState:
    """A step and the first record that satisfied it (``record_id`` None: still waiting)."""

    step: Step
    record_id: int | None = None
    seen_at: str = ""  # when its request arrived here (UTC, ISO 8601)
    record_time: str = ""  # the record's own time (timestamp, start or submit date)
    iccid: str = ""  # sim.iccid, or the endpoint name (an ICCID by default) of SMS events
    what: str = ""  # the event type, traffic type or SMS kind that matched

    @property
    def done(self) -> bool:
        return self.record_id is not None

    def line(self) -> str:
        """One line for the panel: what was seen, when, for which SIM; or the hint."""
        if not self.done:
            return self.step.hint
        sim = f" for ICCID {self.iccid}" if self.iccid else ""
        own = f" (record time {self.record_time})" if self.record_time else ""
        return f"{self.what}{sim}, arrived {self.seen_at}{own}"


_FIRST_MATCH = """
SELECT m.id, q.received_at, k.iccid, json_extract(k.json, '$.endpoint.name'), k.ts,
       k.type_name, k.family
FROM ({query}) AS m
JOIN record_keys AS k ON k.id = m.id
JOIN request AS q ON q.id = k.request_id
WHERE q.status = 200 AND q.source = 'received' AND q.headers NOT LIKE ?
ORDER BY m.id LIMIT 1
"""
_SMS_KIND = {"sms_dr": "SMS delivery report", "sms_mo": "SMS from the device"}


class Checklist:
    """The steps' states over one capture; :meth:`update` looks at the records added since.

    ``iccid`` (optional) follows one SIM only: its ICCID, or the endpoint name of SMS events
    (which carry no ``sim`` object; the endpoint is named after the ICCID by default).
    """

    def __init__(self, iccid: str = ""):
        self.iccid = iccid.strip()
        self.states = [StepState(step) for step in STEPS]
        self._after = 0  # records up to this id have been looked at
        self._filters = []
        for step in STEPS:
            text = step.filter
            if self.iccid:
                value = filter_literal(self.iccid)
                text = f"({text}) and (iccid == {value} or endpoint == {value})"
            self._filters.append(parse(text))

    @property
    def done(self) -> bool:
        return all(state.done for state in self.states)

    def update(self, db: sqlite3.Connection) -> bool:
        """Look at the records added since the last call; True when a step changed."""
        upto = db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]
        if upto <= self._after:
            return False
        changed = False
        for number, state in enumerate(self.states):
            if state.done:
                continue
            sql, params = self._filters[number].record_query(
                state.step.families, self._after, upto, ledger=has_ledger(db))
            row = db.execute(_FIRST_MATCH.format(query=sql),
                             [*params, f"%{CHECK_HEADER}%"]).fetchone()
            if row is not None:
                self.states[number] = _seen(state, row)
                changed = True
        self._after = upto
        return changed


def _seen(state: StepState, row: tuple) -> StepState:
    record_id, received_at, iccid, endpoint_name, ts, type_name, family = row
    what = _SMS_KIND.get(family) or (f"{type_name}" if type_name else family)
    if family == "usage" and type_name:
        what = f"{type_name} usage record"
    return replace(state, record_id=record_id, seen_at=_short_time(received_at),
                   record_time=str(ts or ""), iccid=str(iccid or endpoint_name or ""),
                   what=str(what))


def _short_time(iso: str) -> str:
    """``2026-11-30T15:31:02.123456Z`` as ``2026-11-30 15:31:02 UTC``."""
    text = str(iso or "")
    return text[:19].replace("T", " ") + " UTC" if len(text) >= 19 else text
