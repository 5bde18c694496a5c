"""A second probe target (entry point ``probe2``), so a test can scope two targets differently (écoles, collèges)."""

from hub_probe import Settings, hub_deliver, hub_target_scope

__all__ = ["Settings", "hub_deliver", "hub_target_scope"]
