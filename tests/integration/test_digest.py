"""The owner's daily digest: figures computed by a pure function (asserted exactly), the
cron job that sends it once per shop per day, and `pitstop digest`."""

import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core import booking, digest
from core.digest import BookingRow, DigestInput, EventRow, PartRow, PaymentRow, RatingRow
from core.messages import Reply, render
from core.models import Booking, OutboxMessage, Payment, Staff
from pitstop.cli import main
from tests.integration.booking_helpers import loaded, new_customer
from tests.integration.staff_helpers import WANJIRU, book

NAIROBI = "Africa/Nairobi"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


OIL, BRAKES = {"en": "Oil change"}, {"en": "Brake pads"}


def rows() -> DigestInput:
    b = lambda i, status, day, h, mech, bay, price, names=(OIL,), minutes=60: BookingRow(  # noqa: E731
        i, f"MM-{1000 + i}", status, at(day, h), at(day, h, minutes) if minutes < 60 else at(day, h + 1),
        mech, bay, price, names)  # fmt: skip
    return DigestInput(
        shop="Mwangaza Motors", timezone=NAIROBI, currency="KES", day=date(2026, 11, 24), open_minutes=540,
        mechanics=((1, "Otieno"), (2, "Kiprono")), bays=((10, "Lift 1"), (11, "Lift 2")),
        bookings=(
            b(1, "completed", 24, 8, 1, 10, 500_000),
            b(2, "completed", 24, 10, 2, 11, 450_000, (BRAKES,)),
            b(3, "no_show", 24, 11, 1, 10, 200_000),
            b(4, "cancelled", 24, 14, 2, 11, 150_000),
            b(5, "in_progress", 24, 15, 2, 10, 350_000, minutes=45),
            b(6, "expired", 24, 16, 1, 11, 350_000),
            b(7, "confirmed", 25, 9, 2, 10, 1_200_000),
            b(8, "held", 25, 8, 1, 11, 350_000),
            b(9, "completed", 20, 9, 1, 10, 300_000),  # last week, still owing
            b(10, "cancelled", 25, 12, 1, 10, 100_000),
        ),
        payments=(
            PaymentRow(1, "cash", "balance", 500_000, "completed", at(24, 9, 30)),
            PaymentRow(2, "mpesa", "deposit", 100_000, "completed", at(23, 12)),
            PaymentRow(2, "mpesa", "balance", 200_000, "completed", at(24, 11)),
            PaymentRow(5, "mpesa", "deposit", 70_000, "completed", at(22, 12)),
            PaymentRow(7, "kaspi", "deposit", 300_000, "completed", at(24, 18)),
            PaymentRow(9, "cash", "deposit", 100_000, "completed", at(20, 9)),
            PaymentRow(8, "mpesa", "deposit", 350_000, "pending", None),
            PaymentRow(4, "mpesa", "deposit", 50_000, "refund_due", at(24, 13)),
        ),
        events=(
            EventRow(4, "cancelled", "late cancellation", at(24, 9)),
            EventRow(10, "cancelled", None, at(24, 9, 5)),
        ),
        ratings=(RatingRow(1, 1, 5, at(24, 9, 40)), RatingRow(2, 2, 2, at(24, 12)), RatingRow(9, 1, 4, at(20, 10))),
        parts=(PartRow("oil-filter", "Oil filter", 3, 4), PartRow("brake-pads", "Brake pad set", 2, 2)),
    )  # fmt: skip


def test_the_figures_of_a_day_exactly():
    f = digest.compute(rows())
    assert f.by_status == {"in_progress": 1, "completed": 2, "no_show": 1, "cancelled": 1}
    assert f.bookings == 5
    assert f.revenue_by_method == {"mpesa": 200_000, "kaspi": 300_000, "cash": 500_000}
    assert f.revenue_minor == 1_000_000
    assert f.deposits_held_minor == 70_000 + 300_000  # live bookings only; the pending one is not held
    assert (f.no_shows, f.late_cancellations) == (1, 1)
    assert [(u.name, u.minutes, u.percent) for u in f.mechanics] == [("Otieno", 60, 11), ("Kiprono", 105, 19)]
    assert [(u.name, u.minutes, u.percent) for u in f.bays] == [("Lift 1", 105, 19), ("Lift 2", 60, 11)]
    assert [(p.code, p.mechanic) for p in f.tomorrow] == [("MM-1008", "Otieno"), ("MM-1007", "Kiprono")]
    assert f.unpaid == (("MM-1009", 200_000), ("MM-1002", 150_000))
    assert f.refunds_due == (1, 50_000)
    assert f.rating == (3.5, 2)
    assert [p.code for p in f.low_stock] == ["oil-filter"]
    assert [(c.day.day, c.bookings, c.revenue_minor) for c in f.chart][-5:] == [
        (20, 1, 100_000), (21, 0, 0), (22, 0, 70_000), (23, 0, 100_000), (24, 4, 1_000_000)]
    assert len(f.chart) == 14 and f.chart[0].day == date(2026, 11, 11)


def test_the_digest_reads_well_in_the_owners_language():
    text = "\n".join(render(m, "en") for m in digest.texts(digest.compute(rows())))
    assert text == (
        "Daily digest of Mwangaza Motors for Tue 24 Nov\n"
        "Bookings today: 5 (in progress: 1, completed: 2, no-show: 1, cancelled: 1)\n"
        "Revenue: Ksh10,000 (M-Pesa Ksh2,000, Kaspi Ksh3,000, cash Ksh5,000)\n"
        "Deposits held: Ksh3,700\n"
        "No-shows: 1. Late cancellations: 1.\n"
        "Mechanics busy: Otieno 11%, Kiprono 19%\n"
        "Bays busy: Lift 1 19%, Lift 2 11%\n"
        "Tomorrow: 2 bookings\n"
        "08:00 MM-1008 Oil change (Otieno)\n"
        "09:00 MM-1007 Oil change (Kiprono)\n"
        "Unpaid balances: Ksh3,500 (MM-1009 Ksh2,000, MM-1002 Ksh1,500)\n"
        "Refunds due: 1, Ksh500\n"
        "Average rating today: 3.5 of 5 (2 ratings)\n"
        "Low stock: Oil filter 3/4"
    )


def test_the_digest_of_a_day_gone_by_does_not_call_it_today():
    text = [render(m, "en") for m in digest.texts(digest.compute(dataclasses.replace(rows(), not_today=True)))]
    assert text[1] == "Bookings that day: 5 (in progress: 1, completed: 2, no-show: 1, cancelled: 1)"
    assert text[7] == "The next day: 2 bookings"
    assert text[-2] == "Average rating that day: 3.5 of 5 (2 ratings)"
    quiet = digest.compute(dataclasses.replace(rows(), not_today=True, bookings=(), ratings=()))
    assert [render(m, "ru") for m in digest.texts(quiet)][1::6] == [
        "Записей за этот день: нет", "На следующий день: записей нет"]


def test_numbers_in_the_digest_are_written_the_readers_way():
    text = "\n".join(render(m, "ru") for m in digest.texts(digest.compute(rows())))
    assert "Otieno 11\xa0%, Kiprono 19\xa0%" in text  # Russian puts a no-break space before %
    assert "3,5 из 5" in text



def test_kaspi_links_and_kaspi_classic_are_one_way_of_paying_in_the_revenue():
    base = rows()
    f = digest.compute(dataclasses.replace(base, payments=base.payments + (
        PaymentRow(7, "kaspi_qr", "balance", 100_000, "completed", at(24, 19)),)))  # fmt: skip
    assert f.revenue_by_method == {"mpesa": 200_000, "kaspi": 400_000, "cash": 500_000}


def test_a_past_days_tomorrow_keeps_the_visits_that_went_ahead_since():
    base = rows()
    went_ahead = dataclasses.replace(base.bookings[6], status="completed")  # MM-1007, on the 25th
    f = digest.compute(dataclasses.replace(base, bookings=base.bookings[:6] + (went_ahead,) + base.bookings[7:]))
    assert [p.code for p in f.tomorrow] == ["MM-1008", "MM-1007"]  # not the cancelled MM-1010


def test_the_chart_reads_plainly_on_a_quiet_fortnight_and_a_busy_one():
    base = digest.compute(rows())
    quiet = dataclasses.replace(base, chart=tuple(dataclasses.replace(c, bookings=0, revenue_minor=0) for c in base.chart))
    bookings, revenue = digest.draw_chart(quiet, "en").axes
    assert (bookings.get_ylim()[0], revenue.get_ylim()[0]) == (0, 0)  # never below nothing
    assert bookings.get_ylim()[1] >= 1 and revenue.get_ylim()[1] >= 1

    busy = dataclasses.replace(base, currency="KZT", chart=tuple(
        dataclasses.replace(c, revenue_minor=190_000_000) for c in base.chart))  # 1.9 million tenge a day
    _, revenue = digest.draw_chart(busy, "ru").axes
    assert revenue.yaxis.get_major_formatter()(1_500_000, 0) == "1\xa0500\xa0000"
    assert revenue.yaxis.get_offset_text().get_text() == ""  # no "1e6" in the corner

def _owner_verified(db, shop_id, now):
    with db.uow() as uow:
        owner = uow.session.scalar(select(Staff).where(Staff.shop_id == shop_id, Staff.phone == WANJIRU))
        owner.telegram_user_id, owner.verified_at = 6000001, now


def _digest_rows(db):
    with db.uow() as uow:
        return list(uow.session.execute(select(OutboxMessage.kind, OutboxMessage.address, OutboxMessage.dedupe_key)
                                        .where(OutboxMessage.dedupe_key.like("digest:%")).order_by(OutboxMessage.id)))  # fmt: skip


def test_the_cron_sends_each_owner_the_digest_once_a_day_at_digest_time(sqlite_db, nairobi_spec, tmp_path):
    shop = loaded(sqlite_db, nairobi_spec)
    book(sqlite_db, shop.id, "100", ["oil-change"], at(24, 10), at(23, 9))
    _owner_verified(sqlite_db, shop.id, at(23, 9))
    assert digest.send_due(sqlite_db, at(24, 18, 59), tmp_path) == 0  # the shop's digest time is 19:00
    assert digest.send_due(sqlite_db, at(24, 19, 0), tmp_path) == 1
    assert digest.send_due(sqlite_db, at(24, 19, 5), tmp_path) == 0
    assert _digest_rows(sqlite_db) == [
        ("text", "6000001", f"digest:{shop.id}:2026-11-24:owner1"),
        ("photo", "6000001", f"digest:{shop.id}:2026-11-24:owner1:chart")]  # fmt: skip
    assert (tmp_path / "digests" / "mwangaza-motors-2026-11-24-en.png").read_bytes().startswith(b"\x89PNG")
    assert digest.send_due(sqlite_db, at(25, 19, 1), tmp_path) == 1  # the next day has its own


def test_a_hold_that_ran_out_is_counted_as_expired_though_no_sweep_ran(sqlite_db, nairobi_spec, tmp_path):
    shop = loaded(sqlite_db, nairobi_spec)
    book(sqlite_db, shop.id, "100", ["oil-change"], at(24, 10), at(23, 9))
    held = booking.hold(sqlite_db, shop_id=shop.id, customer_id=new_customer(sqlite_db, shop, "101"),
                        service_ids=(shop.services["oil-change"],), start=at(24, 15), now=at(24, 9),
                        channel="telegram", payment_method="cash")  # fmt: skip
    with sqlite_db.uow() as uow:
        hold_ends = uow.session.get(Booking, held.booking_id).hold_expires_at
        before, after = (digest.figures_for(uow.session, shop.id, date(2026, 11, 24), moment).by_status
                         for moment in (hold_ends - timedelta(seconds=1), hold_ends))  # fmt: skip
    assert (before, after) == ({"held": 1, "confirmed": 1}, {"confirmed": 1})
    _owner_verified(sqlite_db, shop.id, at(23, 9))
    assert digest.send_due(sqlite_db, at(24, 19, 0), tmp_path) == 1
    with sqlite_db.uow() as uow:
        assert uow.session.get(Booking, held.booking_id).status == "held"  # a report writes nothing
        text = uow.session.scalar(select(OutboxMessage.body).where(OutboxMessage.kind == "text",
                                                                   OutboxMessage.dedupe_key.like("digest:%")))  # fmt: skip
    assert render(Reply.from_json(text).texts[1], "en") == "Bookings today: 1 (confirmed: 1)"


def test_deposits_held_count_bookings_that_start_after_tomorrow_too(sqlite_db, nairobi_spec):
    shop = loaded(sqlite_db, nairobi_spec)
    soon = book(sqlite_db, shop.id, "100", ["brake-pads"], at(25, 10), at(24, 9))
    next_week = book(sqlite_db, shop.id, "101", ["brake-pads"], datetime(2026, 12, 1, 7, tzinfo=UTC), at(24, 9))
    with sqlite_db.uow() as uow:
        for b in (soon, next_week):
            uow.session.add(Payment(shop_id=shop.id, booking_id=b.id, provider="mpesa", purpose="deposit",
                                    amount_minor=100_000, currency="KES", status="completed",
                                    completed_at=at(24, 10), created_at=at(24, 10)))  # fmt: skip
    with sqlite_db.uow() as uow:
        figures = digest.figures_for(uow.session, shop.id, date(2026, 11, 24), at(24, 19))
    assert figures.deposits_held_minor == 200_000


def test_two_cron_processes_send_the_digest_once(pg_db, nairobi_spec, tmp_path):
    shop = loaded(pg_db, nairobi_spec)
    _owner_verified(pg_db, shop.id, at(23, 9))
    barrier = threading.Barrier(3)
    errors = []

    def run():
        try:
            barrier.wait()
            digest.send_due(pg_db, at(24, 19, 2), tmp_path)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with pg_db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.dedupe_key.like("digest:%"))) == 2  # fmt: skip


def test_pitstop_digest_prints_the_digest_and_writes_the_chart_and_csv(sqlite_url, sqlite_db, nairobi_spec, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    shop = loaded(sqlite_db, nairobi_spec)
    book(sqlite_db, shop.id, "100", ["oil-change"], at(24, 10), at(23, 9), plate="KCB 123A")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("REDIS_URL", raising=False)  # a developer's own Redis is not this test's
    monkeypatch.setenv("PITSTOP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["digest", "--shop", "mwangaza-motors", "--date", "2026-11-24",
                                       "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Daily digest of Mwangaza Motors for Tue 24 Nov\nBookings that day: 1 (confirmed: 1)\n")
    assert "Mechanics busy: Otieno Ochieng 8%, Kiprono Langat 0%, Achieng Atieno 0%" in result.output
    assert (tmp_path / "out" / "mwangaza-motors-2026-11-24.png").read_bytes().startswith(b"\x89PNG")
    csv = (tmp_path / "out" / "mwangaza-motors-2026-11-24.csv").read_text().splitlines()
    assert len(csv) == 2 and csv[1].startswith("MM-1001,2026-11-24,10:00,10:45,confirmed,Amina,,KCB 123A,")
    sw = CliRunner().invoke(main, ["digest", "--shop", "mwangaza-motors", "--date", "2026-11-24", "--lang", "sw",
                                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert sw.exit_code == 0 and "MM-1001" not in sw.output.splitlines()[0]
    missing = CliRunner().invoke(main, ["digest", "--shop", "nobody"])
    assert missing.exit_code != 0 and "no shop 'nobody'" in missing.output


@pytest.mark.parametrize("lang", ["en", "sw", "ru", "kk"])
def test_the_chart_is_drawn_in_every_language(tmp_path, lang):
    path = digest.write_chart(digest.compute(rows()), lang, tmp_path / f"chart-{lang}.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000


def test_the_owner_reads_extra_work_as_waiting_for_the_customer_not_for_them():
    base = rows()
    waiting = dataclasses.replace(base.bookings[4], status="awaiting_approval")  # MM-1005, today
    f = digest.compute(dataclasses.replace(base, bookings=base.bookings[:4] + (waiting,) + base.bookings[5:]))
    text = render(digest.texts(f)[1], "en")
    assert "waiting for the customer's approval: 1" in text and "your approval" not in text


def test_a_digest_no_cron_pass_sent_before_midnight_goes_in_the_small_hours(sqlite_db, nairobi_spec, tmp_path):
    """The shop wants its digest at 23:58 and the cron passes every five minutes: at
    23:55:30 it is not time yet, at 00:00:30 it is the next day. Tuesday's digest goes
    late, once, and not again in the morning; Monday's, from before the owner came, never."""
    from core.shopfile import read_shop_file
    from tests.conftest import NAIROBI

    late = tmp_path / "late.toml"
    late.write_text(NAIROBI.read_text().replace('time = "19:00"', 'time = "23:58"'))
    shop = loaded(sqlite_db, read_shop_file(late))
    with sqlite_db.uow() as uow:
        owner = uow.session.scalar(select(Staff).where(Staff.shop_id == shop.id, Staff.phone == WANJIRU))
        owner.telegram_user_id, owner.verified_at = 6000001, datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # Tue 01:00

    assert digest.send_due(sqlite_db, datetime(2026, 11, 23, 22, 30, tzinfo=UTC), tmp_path) == 0  # Monday's is
    # owed to nobody: the owner came after its time
    assert digest.send_due(sqlite_db, at(24, 23, 55) + timedelta(seconds=30), tmp_path) == 0
    assert digest.send_due(sqlite_db, datetime(2026, 11, 24, 21, 0, 30, tzinfo=UTC), tmp_path) == 1  # 00:00:30
    assert digest.send_due(sqlite_db, at(25, 5, 55), tmp_path) == 0
    with sqlite_db.uow() as uow:
        keys = list(uow.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("digest:%"))))
    assert sorted(keys) == [f"digest:{shop.id}:2026-11-24:owner{owner.id}", f"digest:{shop.id}:2026-11-24:owner{owner.id}:chart"]


def test_the_digest_of_a_day_to_come_does_not_call_it_today_either(sqlite_db, nairobi_spec):
    shop = loaded(sqlite_db, nairobi_spec)
    with sqlite_db.uow() as uow:
        friday = [render(m, "en") for m in digest.texts(digest.figures_for(uow.session, shop.id, date(2026, 11, 27),
                                                                           at(23, 9)))]  # fmt: skip
    assert [t for t in friday if t.startswith(("Bookings", "The next day", "Tomorrow", "Average rating"))] == [
        "Bookings that day: none", "The next day: no bookings", "Average rating that day: no ratings"]
