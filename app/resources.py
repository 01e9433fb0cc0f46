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


def doc_path(name: str) -> Path:
    """A page the Help menu shows, by file name: from ``resources/docs`` (the vendor contract
    summary), else from the top-level ``docs/`` folder of a checkout (``filters.md``,
    ``capture-format.md``), which wheels and frozen builds pack into ``app/_resources/docs``
    (pyproject's force-include, the PyInstaller spec's datas)."""
    packed = resources_dir() / "docs" / name
    return packed if packed.is_file() else _HERE.parent / "docs" / name


HELP_DOCS = ("filters.md", "capture-format.md", "vendor-contract.md")

DOCUMENTED_EVENT_SAMPLE = "update-location-event.json"
