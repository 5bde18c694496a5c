"""AAF source plugin (see hookimpl)."""

DEFAULT_ENCODING = "ISO-8859-15"  # of the AAF files the académies export, and of those the demo writes
