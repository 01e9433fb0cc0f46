"""The Help menu, and the window's small words (issue 15, item 10 and "Also expected")."""

from app.ui.replay import SendDialog
from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post


def test_counts_take_the_noun_in_the_right_number(qtbot, window):
    dialog = SendDialog(window.receiver.endpoint, "", "", {}, window)
    assert dialog.retries.text() == "5 retries"
    dialog.retries.setValue(1)
    assert dialog.retries.text() == "1 retry"
    dialog.sims.setValue(1)
    dialog.generate.setValue(1)
    assert (dialog.sims.text(), dialog.generate.text()) == ("1 SIM", "1 record")
    dialog.deleteLater()
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.counter_label.text() == "1 request · 1 record", timeout=WAIT)
