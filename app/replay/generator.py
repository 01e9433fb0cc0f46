"""Realistic fake Data Streamer records, deterministic for a seed.

Each fake SIM has an ICCID, IMSI, MSISDN and IMEI in 1NCE's formats, kept the same in every
record of that SIM, and lives through plausible sequences: attach (SIM activation, update GPRS
location, create PDP context, update location), data sessions closed by a delete PDP context
with a usage record, SMS usage, and now and then a quota alert. Shapes follow
``../shared/docs/record-schema.md`` (the 2021 examples, as on the vendor's webhook page).

Record ids depend on the seed, so that the same seed gives the same records (sending them again
is a true redelivery) and different seeds do not collide (records of two seeds are never taken
for a conflict by the receiver's ledger): seed ``s`` numbers its events from
``1,000,000,001 + k`` and its usage records from ``2,000,000,001 + k``, with
``k = (((s - 1) mod 999) + 1) * 1,000,000``: every seed has a million ids of each kind, seeds
999 apart share their range, and the first range (``k = 0``) is the shipped samples' own
(``resources/samples``, made with ``id_offset=0``), so generated records never collide with the
samples either.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

_OPERATORS = [
    # (operator id, name, mnc, country id, country, iso, dialling code, mcc, tapcode, rate zone)
    (2, "T-Mobile", "01", 74, "Germany", "de", "49", "262", "DEUD1", "Rate Zone 2 (EU - DE)"),
    (3, "Vodafone", "02", 74, "Germany", "de", "49", "262", "DEUD2", "Rate Zone 2 (EU - DE)"),
    (730, "T-Mobile", "16", 141, "Netherlands", "nl", "31", "204", "NLDPN", "Rate Zone 1 (EU)"),
    (5, "Orange", "01", 73, "France", "fr", "33", "208", "FRAF1", "Rate Zone 1 (EU)"),
    (12, "Telia", "01", 211, "Sweden", "se", "46", "240", "SWETR", "Rate Zone 1 (EU)"),
    (91, "AT&T", "410", 226, "United States", "us", "1", "310", "USACG", "Rate Zone 4 (US)"),
]


@dataclass(frozen=True)
class Sim:
    """One fake SIM and its device, with identifiers consistent across its records."""

    iccid: str
    imsi: str
    msisdn: str
    imei: str
    sim_id: int
    imsi_id: int
    endpoint_id: int
    ip_address: str
    operator: tuple


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def make_sims(count: int, rnd: random.Random) -> list[Sim]:
    sims = []
    for n in range(count):
        body = f"8988228066{600000000 + n:09d}"  # 19 digits: 89 88 228 issuer, serial
        iccid = body + _luhn_digit(body)
        tac = "35" + f"{rnd.randrange(10**6):06d}"
        serial = f"{rnd.randrange(10**6):06d}"
        sims.append(Sim(
            iccid=iccid,
            imsi=f"901405{100000000 + n:09d}",
            msisdn=f"88228{1000000000 + n:010d}",
            imei=tac + serial + _luhn_digit(tac + serial),
            sim_id=3000000 + n,
            imsi_id=5000000 + n,
            endpoint_id=7000000 + n,
            ip_address=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
            operator=rnd.choice(_OPERATORS),
        ))
    return sims


SEED_IDS = 1_000_000  # ids of each kind a seed has before the next seed's range
SEED_RANGES = 999  # seeds this far apart share a range (range 0 is the shipped samples')


def seed_id_offset(seed: int) -> int:
    """How far a seed's record ids are from the first ones (the shipped samples'):
    ``(((seed - 1) mod 999) + 1) * 1,000,000``."""
    return ((seed - 1) % SEED_RANGES + 1) * SEED_IDS


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Generator:
    """Yields event and usage records for ``sims`` SIMs, in time order, for a ``seed``.

    Record ids come from the seed's own range (:func:`seed_id_offset`); ``id_offset`` overrides it
    (0: the shipped samples' ids)."""

    def __init__(self, sims: int = 100, seed: int = 1,
                 start: dt.datetime = dt.datetime(2025, 3, 18, 7, 0, tzinfo=dt.UTC),
                 organisation: tuple[int, str] = (1234, "81013181"),
                 id_offset: int | None = None):
        self._rnd = random.Random(seed)
        self.sims = make_sims(sims, self._rnd)
        self._now = start
        self._org = {"name": organisation[1], "id": organisation[0]}
        offset = seed_id_offset(seed) if id_offset is None else id_offset
        self._event_id = 1_000_000_000 + offset
        self.reject_rate = 0.08  # share of Create PDP Context requests refused
        self._usage_id = 2_000_000_000 + offset

    def records(self, count: int) -> list[dict]:
        out: list[dict] = []
        it = self.stream()
        while len(out) < count:
            out.append(next(it))
        return out

    def stream(self) -> Iterator[dict]:
        rnd = self._rnd
        while True:
            sim = rnd.choice(self.sims)
            self._now += dt.timedelta(seconds=rnd.randrange(1, 30))
            roll = rnd.random()
            if roll < 0.15:
                yield from self.attach(sim)
            elif roll < 0.85:
                yield from self.data_session(sim)
            elif roll < 0.95:
                yield self.sms_usage(sim)
            else:
                yield self.quota_event(sim, used_up=self._rnd.random() < 0.3)

    def advance(self, seconds: int) -> None:
        """Move the generator's clock on (the time of the next record)."""
        self._now += dt.timedelta(seconds=seconds)

    def quota_event(self, sim: Sim, used_up: bool = False) -> dict:
        """A data quota alert: threshold reached (18) or used up (19)."""
        quota = {"volume": 50.0, "threshold_volume": 40.0, "threshold_percentage": 80}
        if used_up:
            return self.event(sim, 19, "Quota used up", severity=(1, "WARN"),
                               source=(1, "Policy Control"), alert=True,
                               description="Data quota used up: data service blocked",
                               detail={"quota": {**quota, "volume": 0.0}})
        return self.event(sim, 18, "Quota threshold reached", severity=(1, "WARN"),
                           source=(1, "Policy Control"), alert=True,
                           description="Data quota threshold reached", detail={"quota": quota})

    def sms_events(self, sim: Sim) -> list[dict]:
        """An MT SMS delivery report and an MO SMS (the 2024/25 SMS event shapes)."""
        self._event_id += 2
        when = _iso(self._now)
        later = _iso(self._now + dt.timedelta(seconds=3))
        endpoint = {"id": sim.endpoint_id, "name": sim.iccid}
        return [
            {"id": self._event_id - 1, "submit_date": when, "final_date": later,
             "organisation": {"id": self._org["id"]}, "endpoint": endpoint,
             "status": {"status": "DELIVERED", "id": 4},
             "detail": {"sms": {"id": str(self._rnd.randrange(10**6))}}},
            {"id": self._event_id, "submit_date": later,
             "organisation": {"id": self._org["id"]}, "endpoint": endpoint,
             "source_address": sim.msisdn, "dest_address": "338", "payload": "STATUS OK",
             "dcs": 0, "pid": 0},
        ]

    # -- records -----------------------------------------------------------------------------

    def _sim(self, sim: Sim) -> dict:
        return {"msisdn": sim.msisdn, "iccid": sim.iccid, "id": sim.sim_id,
                "production_date": "2019-01-21T09:36:17Z"}

    def _endpoint(self, sim: Sim) -> dict:
        return {"tags": None, "ip_address": sim.ip_address, "name": sim.iccid, "imei": sim.imei,
                "id": sim.endpoint_id}

    def _location(self, sim: Sim) -> dict:
        op = sim.operator
        return {
            "mnc": [{"mnc": op[2], "id": 300 + op[0] % 97}],
            "tapcode": [{"tapcode": op[8], "id": 400 + op[0] % 89}],
            "name": op[1],
            "country": {"iso_code": op[5], "country_code": op[6], "name": op[4], "id": op[3],
                        "mcc": op[7]},
            "id": op[0],
        }

    def event(self, sim: Sim, type_id: int, type_name: str, *, description: str,
               severity=(0, "INFO"), source=(0, "Network"), alert=False, detail=None) -> dict:
        self._event_id += 1
        return {
            "imsi": {"imsi": sim.imsi, "id": sim.imsi_id, "import_date": "2019-01-21T09:36:17Z"},
            "event_source": {"description": source[1], "id": source[0]},
            "organisation": dict(self._org),
            "event_severity": {"id": severity[0], "description": severity[1]},
            "sim": self._sim(sim),
            "description": description,
            "alert": alert,
            "id": self._event_id,
            "user": None,
            "detail": detail,
            "endpoint": self._endpoint(sim),
            "event_type": {"id": type_id, "description": type_name},
            "timestamp": _iso(self._now),
        }

    def _pdp(self, sim: Sim) -> dict:
        op = sim.operator
        return {"pdp_context_id": self._rnd.randrange(10**6), "tunnel_created": _iso(self._now),
                "ue_ip_address": sim.ip_address, "apn": "iot.1nce.net", "rat_type": 6,
                "mcc": op[7], "mnc": op[2]}

    def attach(self, sim: Sim) -> Iterator[dict]:
        """SIM activation, update GPRS location, create PDP context, update location."""
        loc = self._location(sim)
        vlr = f"49{self._rnd.randrange(10**10):010d}"
        yield self.event(sim, 8, "SIM activation", source=(2, "API"),
                          description="SIM activated")
        yield self.event(sim, 2, "Update GPRS location", detail=loc,
                          description=f"New GPRS location received from SGSN for "
                                      f"IMSI='{sim.imsi}', RAT type='E_UTRAN'.")
        if self._rnd.random() < self.reject_rate:  # refused by policy control (IMEI lock)
            yield self.event(sim, 3, "Create PDP Context", severity=(1, "WARN"),
                              source=(1, "Policy Control"), alert=True, detail=None,
                              description="Create PDP Context rejected: IMEI lock violation "
                                          "(IMEI_LOCK_BREACHED).")
            return
        yield self.event(sim, 3, "Create PDP Context",
                          detail={**self._location(sim), "pdp_context": self._pdp(sim)},
                          description="PDP Context created.")
        yield self.event(sim, 1, "Update location", detail=loc,
                          description=f"New location received from VLR for IMSI='{sim.imsi}', "
                                      f"now attached to VLR='{vlr}'.")

    def data_session(self, sim: Sim, interim: int = 0) -> Iterator[dict]:
        """A data session's usage records (``interim`` 15-minute ones, then the closing one)
        and the Delete PDP Context event that ends it."""
        for _ in range(interim):
            started = self._now
            self._now += dt.timedelta(minutes=15)
            yield self._usage(sim, 5, "Data", round(self._rnd.uniform(0.1, 1.5), 6),
                              round(self._rnd.uniform(0.0, 0.3), 6), started)
        rx = round(self._rnd.uniform(0.0, 2.5), 6)
        tx = round(self._rnd.uniform(0.0, 0.6), 6)
        started = self._now
        self._now += dt.timedelta(seconds=self._rnd.randrange(5, 900))
        yield self._usage(sim, 5, "Data", rx, tx, started)
        yield self.event(sim, 5, "Delete PDP Context",
                          detail={**self._location(sim), "pdp_context": self._pdp(sim),
                                  "volume": {"rx": rx, "tx": tx, "total": round(rx + tx, 6)}},
                          description="PDP Context deleted.")

    def sms_usage(self, sim: Sim, mo: bool | None = None) -> dict:
        """A usage record for one SMS (tx/rx as delivered, see the schema's caveat)."""
        mo = self._rnd.random() < 0.5 if mo is None else mo
        return self._usage(sim, 6, "SMS", 0.0 if mo else 1.0, 1.0 if mo else 0.0, self._now)

    def _usage(self, sim: Sim, traffic_id: int, traffic: str, rx: float, tx: float,
               started: dt.datetime) -> dict:
        self._usage_id += 1
        op = sim.operator
        total = round(rx + tx, 6)
        return {
            "imsi": sim.imsi,
            "organisation": dict(self._org),
            "start_timestamp": _iso(started),
            "sim": self._sim(sim),
            "currency": {"id": 1, "symbol": "€", "code": "EUR"},
            "operator": {"id": op[0], "name": op[1], "mnc": op[2],
                         "country": {"id": op[3], "mcc": op[7], "name": op[4]}},
            "tariff": {"ratezone": {"name": op[9], "id": 2000 + op[3]},
                       "name": "1NCE Production 01", "id": 398},
            "imsi_id": sim.imsi_id,
            "traffic_type": {"description": traffic, "id": traffic_id},
            "id": self._usage_id,
            "end_timestamp": _iso(self._now),
            "endpoint": {**self._endpoint(sim), "balance": None},
            "cost": total,
            "volume": {"total": total, "tx": tx, "rx": rx},
        }
