from sso_env import demo_db, keys, make_sso, sso  # noqa: F401
