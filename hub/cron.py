"""Cron expressions, apart from the scheduler so that settings can check them without loading it."""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger


def cron_trigger(expression: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger from 5 cron fields, or 6 with seconds first; ValueError when it does not parse."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=day_of_week, timezone=timezone)
    raise ValueError(f"cron {expression!r} needs 5 fields (or 6 with seconds first), not {len(fields)}")
