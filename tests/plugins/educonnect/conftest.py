import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "sso"))

from sso_env import demo_db, keys, make_sso, sso  # noqa: E402, F401
