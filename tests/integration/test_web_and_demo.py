"""The web app answers the load balancer; the demo plays on a fresh machine."""

import subprocess
import sys

from core.runtime import build_runtime
from tests.conftest import ROOT, make_settings
from webhooks import create_app


def test_health_reports_the_database_and_the_in_process_queue(sqlite_url):
    app = create_app(build_runtime(make_settings(sqlite_url)))
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.json) == (200, {"database": "ok", "queue": "in-process"})


def test_health_reports_postgresql_and_redis(pg_url, redis_url):
    app = create_app(build_runtime(make_settings(pg_url, REDIS_URL=redis_url)))
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.json) == (200, {"database": "ok", "queue": "ok"})


def test_health_says_503_when_the_database_is_gone(tmp_path):
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "db").mkdir()
    app = create_app(build_runtime(make_settings(f"sqlite:///{tmp_path / 'db'}",
                                                  REDIS_URL="redis://127.0.0.1:1/0")))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"].startswith("unreachable: ")
    assert response.json["queue"] == "unreachable"


def test_make_demo_plays_on_a_fresh_directory_and_exits_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", "demo", "--out", str(tmp_path / "demo")],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "== Mwangaza Motors (mwangaza-motors), Africa/Nairobi, KES" in result.stdout
    assert "Замена масла и фильтра / Май мен сүзгіні ауыстыру / Oil and filter change: 40 min" in result.stdout
    assert (tmp_path / "demo" / "pitstop.db").is_file()
