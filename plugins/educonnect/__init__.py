"""EduConnect, the national IdP of pupils and parents, as an upstream of the SSO broker."""
