"""Source plugin ``ldap``: the académie's LDAP directory (ENT/SDET attribute names), read with ldap3."""
