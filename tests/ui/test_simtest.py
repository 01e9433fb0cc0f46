"""The Real SIM test panel on a real window: the simulator's attach, data session and SMS
samples posted (with curl) to the window's real receiver tick its steps."""

from __future__ import annotations

from tests.conftest import SAMPLES
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post


def test_real_sim_test_panel_ticks_as_the_simulated_steps_arrive(qtbot, window):
    panel = window.sim_test
    window.sim_test.toggleViewAction().trigger()
    assert panel.isVisible()
    qtbot.waitUntil(lambda: panel.step_texts()[0][0] == "…", timeout=WAIT)
    assert "airplane mode" in panel.step_texts()[1][2]
    assert panel.summary.text() == "0 of 3 steps seen."
    finish(post(window, SAMPLES / "attach-sequence.json"))
    qtbot.waitUntil(lambda: panel.step_texts()[0][0] == "✔", timeout=WAIT)
    assert panel.step_texts()[0][2].startswith(
        "Update GPRS location for ICCID 89882280666000000004, arrived ")
    assert [m for m, _t, _l in panel.step_texts()] == ["✔", "…", "…"]
    window.mask_action.trigger()  # masked: the ICCID is shown as its pseudonym
    qtbot.waitUntil(lambda: "89882280666000000004" not in panel.step_texts()[0][2],
                    timeout=WAIT)
    assert panel.step_texts()[0][2].startswith("Update GPRS location for ICCID ")
    window.mask_action.trigger()
    for name in ("data-session-usage", "sms-usage"):
        finish(post(window, SAMPLES / f"{name}.json"))
    qtbot.waitUntil(lambda: panel.summary.text().startswith("All steps seen"), timeout=WAIT)
    assert panel.step_texts()[1][2].startswith("Data usage record for ICCID ")
    assert panel.step_texts()[2][2].startswith("SMS usage record for ICCID ")
    # Following another SIM starts over for that SIM.
    panel.iccid_edit.setText("89882280666000000012")
    panel.iccid_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: panel.step_texts()[0][0] == "…", timeout=WAIT)
    assert [m for m, _t, _l in panel.step_texts()] == ["…", "…", "✔"]
    window.save_layout()  # the panel and the SIM it follows are remembered
    assert (window.settings.ui["sim_test"], window.settings.ui["sim_test.iccid"]) == (
        "1", "89882280666000000012")
