"""What a sort costs the GUI thread: a 1,000,000-row table given its sorted order.

    uv run python benchmarks/sort_apply.py [--rows 1000000]

The reader thread sorts (benchmarks/sorting.py); the GUI thread then asks (a copy of the ids),
and applies the answer (one layoutChanged, the selected row mapped to its new place). Baseline
in the same run: resetting the model with the same number of rows (what a new filter costs).
Offscreen Qt, a real model and view.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from array import array

from common import ROOT  # noqa: F401  (puts the project on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QWidget

    from app.capture.order import SortKey
    from app.records.columns import RECORD_TABS
    from app.ui.models import RecordsModel
    from app.ui.reader import CaptureReader, Sorted
    from app.ui.widgets import RecordTableView

    app = QApplication([])
    root = QWidget()
    reader = CaptureReader(root)
    tab = next(t for t in RECORD_TABS if t.key == "usage")
    model = RecordsModel(tab.key, tab.view_columns, reader, root)
    view = RecordTableView(model, tuple(c.width for c in tab.view_columns), root)
    root.resize(1200, 800)
    root.show()
    ids = array("q", range(1, args.rows + 1))
    t0 = time.perf_counter()
    model.reset(ids)
    app.processEvents()
    reset = time.perf_counter() - t0
    view.selectRow(args.rows // 2)
    app.processEvents()
    shuffled = list(ids)
    random.Random(1).shuffle(shuffled)
    order = array("q", shuffled)
    key = SortKey(tab.key, "volume")
    t0 = time.perf_counter()
    model.set_sort_key(key)
    ask = time.perf_counter() - t0
    t0 = time.perf_counter()
    model._on_reader_rows_sorted(Sorted(tab.key, model._sort_token, key, order, 0.0))
    app.processEvents()
    apply = time.perf_counter() - t0
    assert model.id_at(view.currentIndex().row()) == args.rows // 2 + 1
    t0 = time.perf_counter()
    model.set_sort_key(None)
    app.processEvents()
    back = time.perf_counter() - t0
    print(f"{args.rows:,} rows, on the GUI thread:")
    print(f"  baseline: reset with the rows     {reset * 1000:6.0f} ms")
    for what, seconds in (("ask for a sort", ask), ("apply the sorted order", apply),
                          ("back to the arrival order", back)):
        print(f"  {what:32s} {seconds * 1000:6.0f} ms  ({seconds / reset:.2f}x)")
    reader.stop()
    root.close()
    del app


if __name__ == "__main__":
    main()
