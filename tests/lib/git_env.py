"""The environment git runs in for the nginx tests and the benchmark: one
that does not depend on the caller's (no system or user config, HOME a
private directory, C locale, UTC, no prompts, no proxies). Each user adds
the author and committer it wants."""

import os
from pathlib import Path


def clean_git_env(home):
    """The environment for git with HOME at home (made if missing)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C",
        "LC_ALL": "C",
        "TZ": "UTC",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "no_proxy": "*",
        "NO_PROXY": "*",
    }
