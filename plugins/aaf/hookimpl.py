"""AAF source: the académie directory export (Complet and Delta XML files)."""
