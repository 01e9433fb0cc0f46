"""Where the files shipped beside the code live: samples and icons under ``resources/``."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
# In a wheel or a frozen build the folder is packaged as ``app/_resources``; in a checkout it is
# the top-level ``resources/`` folder.
_CANDIDATES = (_HERE / "_resources", _HERE.parent / "resources")


def resources_dir() -> Path:
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the resources folder is missing from this installation")


def sample_path(name: str) -> Path:
    """A sample from ``resources/samples`` by file name (``update-location-event.json``)."""
    return resources_dir() / "samples" / name


DOCUMENTED_EVENT_SAMPLE = "update-location-event.json"
