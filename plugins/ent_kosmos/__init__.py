"""ENT Kosmos/Skolengo target: SCIM 2.0 provisioning of the collèges (see `hookimpl`)."""
