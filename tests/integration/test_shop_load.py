"""Loading shop files: creates, then changes nothing, then changes only what differs."""

import dataclasses
import subprocess
import sys
import threading
import tomllib
import uuid

import pytest
from sqlalchemy import select

from core import booking
from core.models import Bay, Closure, Part, Service, Shop, Staff
from core.shopfile import ShopFileError, parse_shop
from core.shops import load_shop
from tests.conftest import ATYRAU, NAIROBI, ROOT
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI, loaded, new_customer


def snapshot(db) -> dict:
    """Every row a shop load writes, as plain tuples."""
    with db.uow() as uow:
        s = uow.session
        return {
            model.__tablename__: sorted(
                tuple(getattr(row, c.key) for c in model.__table__.columns)
                for row in s.scalars(select(model))
            )
            for model in (Shop, Service, Bay, Staff, Part, Closure)
        }


def test_both_example_shops_load_and_a_second_load_changes_nothing(db, nairobi_spec, atyrau_spec):
    first = [load_shop(db, nairobi_spec), load_shop(db, atyrau_spec)]
    assert [r.created for r in first] == [True, True]
    before = snapshot(db)
    assert len(before["services"]) == 16 and len(before["bays"]) == 5 and len(before["staff"]) == 9

    again = [load_shop(db, nairobi_spec), load_shop(db, atyrau_spec)]
    assert [(r.created, r.changes) for r in again] == [(False, []), (False, [])]
    assert snapshot(db) == before


def test_a_changed_file_changes_only_what_differs_and_keeps_live_stock(db, nairobi_spec):
    load_shop(db, nairobi_spec)
    with db.uow() as uow:  # the workshop used two oil filters since the last load
        part = uow.session.scalar(select(Part).where(Part.code == "oil-filter"))
        part.stock -= 2

    raw = tomllib.loads(NAIROBI.read_text())
    raw["services"][0]["price"] = 3800
    raw["services"] = [s for s in raw["services"] if s["code"] != "battery"]
    raw["bays"].append({"code": "pit-1", "name": "Inspection pit"})
    report = load_shop(db, parse_shop(raw))

    assert report.changes == [
        "shop: config changed",
        "service oil-change: price_minor changed",
        "service battery: deactivated (no longer in the file)",
        "bay pit-1: added",
    ]
    with db.uow() as uow:
        s = uow.session
        assert s.scalar(select(Service.price_minor).where(Service.code == "oil-change")) == 380000
        assert s.scalar(select(Service.active).where(Service.code == "battery")) is False
        assert s.scalar(select(Part.stock).where(Part.code == "oil-filter")) == 8



def test_loading_the_same_file_again_keeps_a_day_the_owner_opened_in_chat(db, nairobi_spec):
    from datetime import UTC, date, datetime

    from core import owner

    load_shop(db, nairobi_spec)
    christmas_eve = date(2026, 12, 24)  # closed in the file for a stocktake
    with db.uow() as uow:
        shop_id = uow.session.scalar(select(Shop.id))
        owner.set_day(uow.session, shop_id, christmas_eve, closed=False, reason=None, now=datetime(2026, 12, 1, tzinfo=UTC))  # /open 24.12

    assert load_shop(db, nairobi_spec).changes == []
    with db.uow() as uow:
        assert uow.session.scalar(select(Closure.closed).where(Closure.day == christmas_eve)) is False

    raw = tomllib.loads(NAIROBI.read_text())
    raw["closures"][0]["reason"] = "Stocktake, moved"  # the file itself changes that day: it is applied
    assert load_shop(db, parse_shop(raw)).changes == [
        "shop: config changed", "closure 2026-12-24: closed changed", "closure 2026-12-24: reason changed"]
    with db.uow() as uow:
        assert uow.session.execute(select(Closure.closed, Closure.reason).where(Closure.day == christmas_eve)).one() == \
            (True, "Stocktake, moved")  # fmt: skip

def test_the_stored_shop_file_reads_back_as_the_same_rules(db, atyrau_spec):
    from core.shops import shop_spec

    load_shop(db, atyrau_spec)
    with db.uow() as uow:
        stored = shop_spec(uow.session.scalar(select(Shop)))
    strip = lambda spec: dataclasses.replace(spec, raw={})  # noqa: E731
    assert strip(stored) == strip(atyrau_spec)


def run_cli(*args, database_url):
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pitstop.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_operator_upgrades_an_empty_database_and_loads_both_shops(tmp_path, pg_url):
    sqlite_url = f"sqlite:///{tmp_path / 'ops.db'}"
    for url in (sqlite_url, pg_url):
        upgraded = run_cli("db", "upgrade", database_url=url)
        assert upgraded.returncode == 0, upgraded.stderr
        loaded = run_cli("shop", "load", str(NAIROBI), str(ATYRAU), database_url=url)
        assert loaded.returncode == 0, loaded.stderr
        again = run_cli("shop", "load", str(NAIROBI), str(ATYRAU), database_url=url)
        assert again.stdout.splitlines() == ["shop mwangaza-motors: unchanged", "shop zhaiyk-auto: unchanged"]


def test_a_broken_shop_file_prints_one_line_per_problem_and_exits_non_zero(tmp_path):
    broken = tmp_path / "broken.toml"
    text = NAIROBI.read_text().replace('timezone = "Africa/Nairobi"', 'timezone = "Mars/Olympus"')
    text = text.replace("duration_minutes = 45\nprice = 3500", "duration_minutes = -45\nprice = 3500")
    broken.write_text(text)
    result = run_cli("shop", "load", str(broken), database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{broken}: timezone: unknown timezone 'Mars/Olympus' (use an IANA name like Africa/Nairobi)",
        f"{broken}: services[0].duration_minutes: must be a positive number of minutes, not -45",
    ]



def test_set_up_mistakes_are_said_in_a_sentence_not_a_stack_trace(tmp_path, pg_url):
    import psycopg

    base, name = pg_url.replace("postgresql+psycopg://", "postgresql://"), f"pitstop_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:  # a database nobody has migrated yet
        conn.execute(f"CREATE DATABASE {name}")
    try:
        unmigrated = run_cli("shop", "load", str(NAIROBI), database_url=base.rsplit("/", 1)[0] + f"/{name}")
        cron = run_cli("cron", "--once", database_url=base.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
    assert unmigrated.returncode == 1 and "Traceback" not in unmigrated.stderr
    assert unmigrated.stderr.strip().endswith("has no Pitstop tables yet (relation \"shops\" does not exist): "
                                              "run `pitstop db upgrade` first")  # fmt: skip
    assert (cron.returncode, cron.stderr.count("\n")) == (1, 1)  # one sentence, not a traceback per job
    assert cron.stderr.strip().endswith("run `pitstop db upgrade` first")

    unreachable = run_cli("db", "upgrade", database_url="postgresql://postgres@127.0.0.1:9/pitstop")
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert unreachable.stderr.startswith("Error: the database at postgresql://postgres@127.0.0.1:9/pitstop cannot be used "
                                         "(connection failed: ")

    cyrillic = tmp_path / "atyrau-1251.toml"
    cyrillic.write_bytes(ATYRAU.read_text().encode("cp1251", errors="replace"))
    not_utf8 = run_cli("shop", "load", str(cyrillic), database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert (not_utf8.returncode, "Traceback" in not_utf8.stderr) == (1, False)
    assert not_utf8.stderr.startswith(f"{cyrillic}: not UTF-8 text (byte ")
    assert not_utf8.stderr.strip().endswith("save the file as UTF-8")

    with_bom = tmp_path / "nairobi-bom.toml"
    with_bom.write_bytes(b"\xef\xbb\xbf" + NAIROBI.read_bytes())  # as Notepad saves it
    assert run_cli("shop", "load", str(with_bom), database_url=f"sqlite:///{tmp_path / 'x.db'}").returncode == 0


def test_cron_on_a_fresh_embedded_database_sets_it_up_and_runs_every_job(tmp_path):
    done = run_cli("cron", "--once", database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    assert (done.returncode, done.stderr) == (0, "")
    assert [line.split(":")[0] for line in done.stdout.splitlines()][:3] == ["expire_holds", "redrive_outbox",
                                                                              "offer_waitlist"]  # fmt: skip


def test_polling_without_the_bots_token_stops_at_once_naming_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert run_cli("shop", "load", str(NAIROBI), database_url=url).returncode == 0

    missing = run_cli("poll", "--shop", "mwangaza-motors", database_url=url)
    unknown = run_cli("poll", "--shop", "nope", database_url=url)

    assert missing.returncode == 1 and "MWANGAZA_TELEGRAM_TOKEN" in missing.stderr and "Traceback" not in missing.stderr
    assert unknown.returncode == 1 and unknown.stderr.splitlines()[-1] == "Error: no shop 'nope'; load it with `pitstop shop load`"

def westlands(prefix: str = "MM") -> dict:
    """A second Mwangaza branch, from the same file."""
    return tomllib.loads(NAIROBI.read_text()) | {"slug": "mwangaza-westlands", "code_prefix": prefix}


def test_a_second_shop_cannot_take_a_prefix_another_shop_has(db, nairobi_spec):
    """Booking codes are unique across shops: Mwangaza's MM cannot be another shop's."""
    load_shop(db, nairobi_spec)
    with pytest.raises(ShopFileError) as error:
        load_shop(db, parse_shop(westlands()))
    assert error.value.problems == ["code_prefix: 'MM' is already the prefix of shop mwangaza-motors; "
                                    "give each shop its own, so booking codes never repeat"]  # fmt: skip
    assert load_shop(db, parse_shop(westlands("MW"))).created is True


def test_nor_a_prefix_another_shop_had_while_its_bookings_carry_it(db, nairobi_spec):
    garage = loaded(db, nairobi_spec)
    customer = new_customer(db, garage, "amina")
    booking.hold(db, shop_id=garage.id, customer_id=customer, service_ids=(garage.services["oil-change"],),
                 start=garage.at(2026, 11, 23, 10), now=MONDAY_9AM_NAIROBI)  # MM-1001  # fmt: skip
    load_shop(db, parse_shop(tomllib.loads(NAIROBI.read_text()) | {"code_prefix": "MZ"}))  # Mwangaza renamed
    with pytest.raises(ShopFileError) as error:
        load_shop(db, parse_shop(westlands()))
    assert error.value.problems == ["code_prefix: 'MM' is in the booking codes of shop mwangaza-motors; "
                                    "give each shop its own, so booking codes never repeat"]  # fmt: skip


def test_two_loads_at_once_cannot_both_take_one_prefix(pg_db):
    """Loads take turns on PostgreSQL: of two new shops wanting MM at once, one gets it."""
    outcomes: list = []
    barrier = threading.Barrier(2)

    def load(raw: dict) -> None:
        barrier.wait()
        try:
            outcomes.append(load_shop(pg_db, parse_shop(raw)).created)
        except ShopFileError:
            outcomes.append("refused")

    branches = [westlands(), westlands() | {"slug": "mwangaza-karen"}]
    threads = [threading.Thread(target=load, args=(raw,)) for raw in branches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes, key=str) == [True, "refused"]


def test_the_operator_is_told_which_shop_already_has_the_prefix(tmp_path):
    twin = tmp_path / "westlands.toml"
    twin.write_text(NAIROBI.read_text().replace('slug = "mwangaza-motors"', 'slug = "mwangaza-westlands"'))
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    both = run_cli("shop", "load", str(NAIROBI), str(twin), database_url=url)  # said before writing anything
    assert (both.returncode, both.stdout) == (1, "")
    assert both.stderr.splitlines() == [f"{twin}: code_prefix: 'MM' is also the prefix in {NAIROBI}; "
                                        "give each shop its own, so booking codes never repeat"]  # fmt: skip
    assert run_cli("shop", "load", str(NAIROBI), database_url=url).returncode == 0
    result = run_cli("shop", "load", str(twin), str(ATYRAU), database_url=url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{twin}: code_prefix: 'MM' is already the prefix of shop mwangaza-motors; "
        "give each shop its own, so booking codes never repeat"
    ]
    assert result.stdout.splitlines() == ["shop zhaiyk-auto: created"]  # the other files still load


def test_polling_retries_a_failed_batch_but_not_a_set_up_mistake(monkeypatch):
    from bot import polling

    calls = []

    def poll_once(runtime, slug, offset, timeout):
        calls.append(offset)
        if len(calls) == 1:
            raise KeyError("message")  # an odd update or a bug: tried again
        raise polling.UnknownShop("no shop 'x'")

    monkeypatch.setattr(polling, "poll_once", poll_once)
    monkeypatch.setattr(polling.time, "sleep", lambda seconds: None)
    with pytest.raises(polling.UnknownShop):
        polling.poll_forever(None, "x")
    assert len(calls) == 2


def test_a_shop_stored_by_an_older_load_still_works_with_keys_loads_now_refuse(db, nairobi_spec):
    """A load now reports unknown keys and quoted "false": a config stored before, with
    a note in it, must not stop every chat of the shop it describes."""
    from core.availability import shop_view, touch_shop
    from core.shops import shop_spec

    load_shop(db, nairobi_spec)
    with db.uow() as uow:
        shop = uow.session.scalar(select(Shop).where(Shop.slug == "mwangaza-motors"))
        shop.config = shop.config | {"address": "Ngong Road", "public_holidays": "false"}
        touch_shop(uow.session, shop.id)
    with db.uow() as uow:
        shop = uow.session.scalar(select(Shop).where(Shop.slug == "mwangaza-motors"))
        assert shop_view(uow.session, shop.id).spec.name == "Mwangaza Motors"
        assert shop_spec(shop).public_holidays is True  # read as that load read it
    with pytest.raises(ShopFileError) as refused:  # loading such a file now says what is wrong
        parse_shop(shop.config)
    assert refused.value.problems == ["public_holidays: must be true or false, not 'false'",
                                      "address: unknown key (use slug, name, timezone, currency, country, languages, "
                                      "code_prefix, hours, closures, public_holidays, booking, cancellation, parts, "
                                      "staff, services, bays, payments, templates, digest, reminders, tax_percent, "
                                      "telegram, whatsapp)"]  # fmt: skip
