"""The sample library: the vendor's two documented requests and realistic generated batches.

Samples live in ``resources/samples`` as JSON bodies, exactly what the streamer would post; the
two documented ones also keep their cURL command as published (``*.curl``). ``index.json`` names
and describes them. The generated ones are made by :func:`build_generated` from a fixed seed
(``python -m app.replay.samples`` writes them again); the full 3000-record batch is made when
asked for, not stored.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from app.replay.generator import Generator
from app.resources import resources_dir

FULL_BATCH = "full-batch-3000"


@dataclass(frozen=True)
class Sample:
    """One sample: its file name stem, a title, what it shows, and its family."""

    name: str
    title: str
    description: str
    documented: bool = False

    @property
    def path(self) -> Path:
        return resources_dir() / "samples" / f"{self.name}.json"

    @property
    def curl_path(self) -> Path | None:
        path = resources_dir() / "samples" / f"{self.name}.curl"
        return path if path.is_file() else None

    def body(self) -> bytes:
        """The exact body to post."""
        if self.name == FULL_BATCH:
            return json.dumps(Generator(sims=300, seed=3000).records(3000),
                              ensure_ascii=False).encode()
        return self.path.read_bytes()


def library() -> list[Sample]:
    """All samples, in the order of ``index.json``."""
    index = json.loads((resources_dir() / "samples" / "index.json").read_text("utf-8"))
    return [Sample(**entry) for entry in index]


def find(name: str) -> Sample:
    name = name.removesuffix(".json")
    for sample in library():
        if sample.name == name:
            return sample
    names = ", ".join(s.name for s in library())
    raise KeyError(f"no sample {name!r} (samples: {names})")


def build_generated() -> dict[str, list[dict]]:
    """The generated samples, deterministic: the same bytes on every machine."""
    gen = Generator(sims=3, seed=2025, id_offset=0)  # the shipped files' ids
    gen.reject_rate = 0.0
    sim = gen.sims[0]
    out: dict[str, list[dict]] = {}
    out["attach-sequence"] = list(gen.attach(sim))
    gen.advance(60)
    session = list(gen.data_session(sim, interim=2))
    out["data-session-usage"] = [r for r in session if "traffic_type" in r]
    out["data-session-events"] = [r for r in session if "event_type" in r]
    gen.advance(120)
    out["sms-usage"] = [gen.sms_usage(sim, mo=True), gen.sms_usage(gen.sims[1], mo=False)]
    gen.advance(30)
    out["sms-events"] = gen.sms_events(sim)
    gen.advance(600)
    out["quota-alerts"] = [gen.quota_event(sim), gen.quota_event(sim, used_up=True)]
    gen.reject_rate = 1.0
    rejected = list(gen.attach(gen.sims[2]))
    out["rejected-pdp-context"] = [r for r in rejected
                                   if r["event_type"]["id"] == 3 and r["alert"]]
    return out


def write_generated(folder: Path | None = None) -> list[Path]:
    folder = folder or resources_dir() / "samples"
    written = []
    for name, records in build_generated().items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_generated():
        print(path)
    sys.exit(0)


def sample_names() -> list[str]:
    """The names ``send --sample`` takes, in the library's order ([] when it cannot be read)."""
    try:
        return [s.name for s in library()]
    except (OSError, ValueError, TypeError):
        return []
