"""verify's backup freshness (the longest wait of each schedule, CronJobs that never succeeded), and its options."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from archangel_helm.operate.checks import Status
from archangel_helm.operate.verify import check_backups, schedule_period_hours

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("0 2 * * *", 24),
        ("30 1 * * *", 24),
        ("0 * * * *", 1),
        ("0 */6 * * *", 6),
        ("0 2,14 * * *", 12),
        ("0 2,8 * * *", 18),  # the longer of the two waits
        ("0 9-17 * * *", 16),
        ("0 3 * * 0", 168),
        ("0 5 * * 6", 168),
        ("0 3 * * 1-5", 72),  # Friday to Monday
        ("0 3 * * 7", 168),  # 7 is Sunday
        ("0 0 1 * *", 744),
        ("@daily", 24),
        ("@weekly", 168),
        ("@hourly", 1),
        # Names, which the hand-written parser this replaced read as "weekly": croniter reads every cron form.
        ("0 3 * * MON-FRI", 72),
        ("0 3 * * SUN", 168),
        ("0 3 * * mon,wed,fri", 72),
        ("0 2 1 JAN,JUL *", 184 * 24),  # July to January is the longer half
        ("0 2 */2 * *", 48),  # the 31st to the 1st is one day, the 29th to the 31st two
        ("CRON_TZ=Europe/Paris 0 2 * * *", 24),
    ],
)
def test_schedule_period_is_the_longest_wait(schedule: str, hours: int) -> None:
    assert schedule_period_hours(schedule) == hours


def test_an_invalid_schedule_is_named_not_guessed() -> None:
    with pytest.raises(ValueError, match="cron schedule 'not a schedule' is not valid"):
        schedule_period_hours("not a schedule")
    job = cronjob({"lastSuccessfulTime": "2026-12-04T02:00:00Z"}, schedule="0 2 * * FRIDAY")
    (result,) = check_backups(cronjobs(job), "archangel", "archangel", NOW)
    assert result.status is Status.FAIL
    assert "cron schedule '0 2 * * FRIDAY' is not valid" in result.detail


def cronjobs(*items: dict[str, Any]) -> Any:
    return lambda path: {"items": list(items)}


def cronjob(status: dict[str, str], schedule: str = "0 2 * * *") -> dict[str, Any]:
    return {"metadata": {"name": "archangel-backup-database"}, "spec": {"schedule": schedule}, "status": status}


def test_a_cronjob_that_ran_but_never_succeeded_fails() -> None:
    (result,) = check_backups(cronjobs(cronjob({"lastScheduleTime": "2026-11-27T02:00:00Z"})), "ns", "r", NOW)
    assert result.status is Status.FAIL
    assert result.detail == "never succeeded; last run started 34.0 h ago (0 2 * * *)"


def test_a_first_run_still_going_passes_and_a_cronjob_never_scheduled_passes() -> None:
    (running,) = check_backups(cronjobs(cronjob({"lastScheduleTime": "2026-11-28T11:30:00Z"})), "ns", "r", NOW)
    assert (running.status, running.detail) == (Status.PASS, "first run started 0.5 h ago (0 2 * * *)")
    (fresh,) = check_backups(cronjobs(cronjob({})), "ns", "r", NOW)
    assert (fresh.status, fresh.detail) == (Status.PASS, "scheduled (0 2 * * *), no run yet")


def test_a_six_hourly_backup_is_judged_by_six_hours() -> None:
    status = {"lastScheduleTime": "2026-11-28T06:00:00Z", "lastSuccessfulTime": "2026-11-28T03:00:00Z"}
    (result,) = check_backups(cronjobs(cronjob(status, "0 */6 * * *")), "ns", "r", NOW)
    assert result.status is Status.FAIL
    assert result.detail == "last success 9.0 h ago (limit 8 h for 0 */6 * * *)"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "0", "-1", "soon"])
def test_load_check_options_refuse_what_is_not_a_positive_finite_number(text: str) -> None:
    import argparse

    from archangel_helm.operate.command import _positive

    with pytest.raises(argparse.ArgumentTypeError, match="is not a positive float"):
        _positive(float)(text)
    assert _positive(float)("2.5") == 2.5
