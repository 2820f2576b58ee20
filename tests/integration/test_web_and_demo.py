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


def test_make_demo_plays_the_story_over_http_and_exits_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", "demo", "--out", str(tmp_path / "demo")],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "10:00  Telegram Amina            /start" in out
    assert "Code: MM-1001." in out  # Amina's brake pads and oil change, held for M-Pesa
    assert "Miadi MM-1002 imeghairiwa." in out  # Kamau cancels late, in Swahili
    assert "Tokeni moja imetumika. Umebakiwa na tokeni 1 mwezi huu." in out
    assert "Жазылдыңыз! Сіздің кодыңыз: ZA-1002." in out  # Ерлан books in Kazakh
    assert "Payment received: Ksh1,000" in out  # Amina's deposit, by M-Pesa
    assert "ZA-1002: отмечена неявка." in out  # Ерлан does not come
    assert "Kiprono will work on your car. The time stays the same." in out  # Otieno went off shift
    assert "Thank you for rating your visit 5 of 5!" in out
    for name in ("mwangaza-motors-2026-11-24.png", "mwangaza-motors-2026-11-24.csv", "zhaiyk-auto-2026-11-24.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name
    assert (tmp_path / "demo" / "pitstop.db").is_file()


def test_demo_can_replay_one_language(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", "demo", "--out", str(tmp_path / "demo"), "--lang", "kk"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "Қазақша" in result.stdout and "Kiswahili: Kamau" not in result.stdout



def test_the_demo_never_clears_a_directory_it_did_not_make(tmp_path, capsys):
    from pitstop import demo

    mine = tmp_path / "project"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")

    assert demo.run_demo(mine, lang="kk") == 2

    assert capsys.readouterr().err.strip() == f"{mine} is not empty and was not made by the demo: choose another --out"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "sub"]
    assert demo.fresh_output(tmp_path / "new", default=False) is None  # an empty or new one is made and marked
    (tmp_path / "new" / "pitstop.db").write_text("an earlier run")
    assert demo.fresh_output(tmp_path / "new", default=False) is None  # its own, cleared for the next run
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [demo.MARK]

def test_a_broken_story_exits_non_zero_and_says_where_it_broke(tmp_path, monkeypatch, capsys):
    from pitstop import demo
    from pitstop.story import TelegramUser

    def chapter(world):
        """Amina asks for something the shop never offered."""
        amina = TelegramUser(world, "mwangaza-motors", 1, "Amina")
        amina.says("/start")
        amina.taps("Klingon")

    monkeypatch.setattr(demo, "CHAPTERS", [("mwangaza-motors", "en", chapter)])
    assert demo.run_demo(tmp_path / "demo") == 1
    err = capsys.readouterr().err
    assert "The story broke in: Amina asks for something the shop never offered." in err
    assert "Amina wanted to tap 'Klingon' but the buttons were ['English', 'Kiswahili']" in err
