"""ONDE source: the écoles' pupils and legal representatives from ONDE CSV exports (see `plugins.onde.reader`)."""
