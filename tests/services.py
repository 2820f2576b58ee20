"""Find the PostgreSQL and Redis that the integration tests use, start them, or explain.

`make test` runs this first. On CI a server that does not answer is a failure. On a
laptop we try the usual ways to start a local server, and otherwise say exactly what
to install or which variable to set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import psycopg
import redis

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"


# Never DATABASE_URL or REDIS_URL: an operator who exported the live ones (README, "Going
# live") would have the tests create and drop databases and flush Redis there.
def pg_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or REDIS_DEFAULT


def libpq(url: str) -> str:
    """psycopg wants a plain libpq URL, without SQLAlchemy's '+psycopg'."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def pg_ok() -> str | None:
    try:
        psycopg.connect(libpq(pg_url()), connect_timeout=3).close()
        return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0]


def redis_ok() -> str | None:
    try:
        redis.Redis.from_url(redis_url(), socket_connect_timeout=3).ping()
        return None
    except Exception as exc:
        return str(exc)


def _try(cmd: list[str]) -> None:
    if shutil.which(cmd[0]):
        subprocess.run(cmd, check=False, capture_output=True, timeout=60)


def try_start_postgres() -> None:
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in os.listdir("/etc/postgresql"):
            _try(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])
    _try(["brew", "services", "start", "postgresql"])


def try_start_redis() -> None:
    _try(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
          "--save", "", "--appendonly", "no"])  # fmt: skip
    _try(["brew", "services", "start", "redis"])


HELP = """
The integration tests need a real PostgreSQL (13 or newer, with the btree_gist extension,
which ships with PostgreSQL) and a real Redis.

  {what}

Install them, for example:
  Debian/Ubuntu:  sudo apt-get install postgresql redis-server
  macOS:          brew install postgresql redis && brew services start postgresql redis
Or point the tests at servers you already have:
  TEST_DATABASE_URL=postgresql://USER@HOST:5432/DB   (a user allowed to CREATE DATABASE)
  TEST_REDIS_URL=redis://HOST:6379/0
Unit tests alone need nothing: make test-unit
"""


def main() -> int:
    ci = os.environ.get("CI") == "true"
    pg_error, redis_error = pg_ok(), redis_ok()
    if not ci and (pg_error or redis_error):
        if pg_error:
            try_start_postgres()
        if redis_error:
            try_start_redis()
        time.sleep(1)
        pg_error, redis_error = pg_ok(), redis_ok()
    problems = []
    if pg_error:
        problems.append(f"PostgreSQL at {pg_url()} does not answer: {pg_error}")
    if redis_error:
        problems.append(f"Redis at {redis_url()} does not answer: {redis_error}")
    if problems:
        print(HELP.format(what="\n  ".join(problems)), file=sys.stderr)
        return 1
    print(f"services: PostgreSQL at {pg_url()}, Redis at {redis_url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
