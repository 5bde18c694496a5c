"""The sync pipeline: read → normalize → stage → plan → safety checks → apply → outbox → journal.

`hub.sync.run.sync` runs it; each step lives in its own module. What a source
returns (`hub.hookspecs.Feed`) is part of the plugin contract.
"""
