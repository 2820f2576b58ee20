"""Receipts: what the customer paid for, in the chat and as a PDF.

A receipt lists the booked services and the extra work the customer approved, the
total with the tax it includes (the shop's tax_percent; prices include tax), the money
received (deposit and payments, by method) and the balance. `receipt_of` reads it from
the database; `texts` and `write_pdf` lay it out in the reader's language.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import availability as av
from core import files, notices, outbox
from core import messages as m
from core.i18n import N_
from core.messages import Choice, Msg, Reply, render
from core.models import Booking, Payment, Service, Vehicle

METHOD_NAMES = {"mpesa": N_("M-Pesa"), "kaspi": N_("Kaspi"), "kaspi_qr": N_("Kaspi"), "cash": N_("cash")}
RATING_WORDS = {1: ["one", "moja", "один", "бір"], 2: ["two", "mbili", "два", "екі"], 3: ["three", "tatu", "три", "үш"],
                4: ["four", "nne", "четыре", "төрт"], 5: ["five", "tano", "пять", "бес"]}  # fmt: skip


@dataclass(frozen=True)
class Line:
    names: dict  # a service's names by language, or {"en": description} for extra work
    price_minor: int
    extra: bool = False


@dataclass(frozen=True)
class Paid:
    method: str
    purpose: str
    amount_minor: int


@dataclass(frozen=True)
class Receipt:
    shop: str
    code: str
    plate: str | None
    at: datetime
    timezone: str
    currency: str
    tax_percent: int
    lines: tuple[Line, ...]
    payments: tuple[Paid, ...]

    @property
    def total_minor(self) -> int:
        return sum(line.price_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return tax_included(self.total_minor, self.tax_percent)

    @property
    def paid_minor(self) -> int:
        return sum(p.amount_minor for p in self.payments)

    @property
    def balance_minor(self) -> int:
        return max(self.total_minor - self.paid_minor, 0)


def tax_included(total_minor: int, percent: int) -> int:
    """The tax inside a tax-inclusive price, rounded half up to the minor unit."""
    if percent <= 0:
        return 0
    return (2 * total_minor * percent + 100 + percent) // (2 * (100 + percent))


def receipt_of(session: Session, booking: Booking) -> Receipt:
    spec = av.shop_view(session, booking.shop_id).spec
    lines = []
    for item in booking.items:
        if item.kind == "service":
            service = session.get(Service, item.service_id) if item.service_id else None
            lines.append(Line(dict(service.names) if service else {"en": item.description}, item.price_minor))
        elif item.status == "approved":
            lines.append(Line({"en": item.description}, item.price_minor, extra=True))
    payments = session.scalars(select(Payment).where(Payment.booking_id == booking.id, Payment.status == "completed")
                               .order_by(Payment.completed_at, Payment.id))  # fmt: skip
    vehicle = session.get(Vehicle, booking.vehicle_id) if booking.vehicle_id else None
    return Receipt(spec.name, booking.code, vehicle.plate if vehicle else None, booking.starts_at, spec.timezone,
                   booking.currency, spec.tax_percent, tuple(lines),
                   tuple(Paid(p.provider, p.purpose, p.amount_minor) for p in payments))  # fmt: skip


def texts(r: Receipt) -> list[Msg]:
    """The receipt as chat sentences."""
    money = lambda minor: m.money(minor, r.currency)  # noqa: E731
    out = [Msg(N_("Receipt for {code}, {day}"), {"code": r.code, "day": m.day(r.at, r.timezone)})]
    if r.plate:
        out.append(Msg(N_("Vehicle: {vehicle}"), {"vehicle": r.plate}))
    for line in r.lines:
        if line.extra:
            out.append(Msg(N_("Extra work, {work}: {price}"), {"work": line.names["en"], "price": money(line.price_minor)}))
        else:
            out.append(Msg(N_("{item}: {price}"), {"item": m.names(line.names), "price": money(line.price_minor)}))
    out.append(Msg(N_("Total: {total}"), {"total": money(r.total_minor)}))
    if r.tax_percent:
        out.append(Msg(N_("Including tax ({percent}%): {tax}"), {"percent": r.tax_percent, "tax": money(r.tax_minor)}))
    for p in r.payments:
        said = N_("Deposit paid by {method}: {amount}") if p.purpose == "deposit" else N_("Paid by {method}: {amount}")
        out.append(Msg(said, {"method": m.message(Msg(METHOD_NAMES.get(p.method, p.method))),
                              "amount": money(p.amount_minor)}))  # fmt: skip
    if r.balance_minor:
        out.append(Msg(N_("Balance to pay: {balance}"), {"balance": money(r.balance_minor)}))
    else:
        out.append(Msg(N_("Paid in full. Thank you!")))
    return out


def send_receipt(session: Session, booking: Booking, now: datetime) -> None:
    """After completion: the receipt in the chat with the request for a 1-5 rating under
    it (one message, so they cannot arrive out of order), and the PDF on request where
    the channel can carry a file."""
    r = receipt_of(session, booking)
    customer = notices.customer_of(session, booking)
    identity = outbox.reach(session, customer, booking.channel)
    choices = [Choice(f"rate:{booking.id}:{n}", "⭐" * n) for n in range(1, 6)]
    if identity is not None:
        choices.append(Choice(f"receipt:pdf:{booking.id}", Msg(N_("Receipt as PDF"))))
    ask = Msg(N_("Thank you for coming! How did we do? Please rate your visit from 1 to 5."))
    notices.status_notice(  # with choices, whole: a rating answers the question, which a template does not carry
        session, booking, Reply((*texts(r), ask), tuple(choices)), f"receipt:{booking.id}", now,
        aliases={f"rate:{booking.id}:{n}": [str(n), *RATING_WORDS[n]] for n in range(1, 6)},
    )  # fmt: skip


# -- PDF ----------------------------------------------------------------------------------


def font_path() -> Path:
    """A Unicode TrueType font (Cyrillic, Kazakh letters): DejaVu Sans, which matplotlib ships."""
    import matplotlib

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for candidate in (bundled, Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("no DejaVuSans.ttf found (matplotlib ships one)")


def write_pdf(r: Receipt, lang: str, path: Path) -> Path:
    """Lay the receipt out on an A5 page (the rating question left out) in `lang`; written atomically to `path`."""
    from fpdf import FPDF

    pdf = FPDF(format=(148, 210))  # A5, in millimetres
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.add_font("DejaVu", "", str(font_path()))
    pdf.set_font("DejaVu", size=15)
    pdf.cell(0, 9, r.shop, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    head, *rest = texts(r)
    pdf.cell(0, 7, render(head, lang), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for msg in rest:
        text = render(msg, lang)
        label, sep, amount = text.rpartition(": ")
        if sep and msg.id != N_("Vehicle: {vehicle}"):
            pdf.cell(pdf.epw * 0.68, 7, label)
            pdf.cell(0, 7, amount, align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    pdf.output(str(tmp))
    tmp.replace(path)
    return path


def send_pdf(session: Session, booking: Booking, now: datetime, out_dir: Path) -> Path:
    """Write the receipt's PDF under `out_dir`/receipts and send it as a document."""
    customer = notices.customer_of(session, booking)
    r = receipt_of(session, booking)
    path = write_pdf(r, customer.language, Path(out_dir) / "receipts" / f"{booking.code}.pdf")
    caption = Reply((Msg(N_("Your receipt for {code}"), {"code": booking.code}),))
    notices.notify_customer(session, booking, caption, None, now, kind="document",
                            extra=files.keep(session, booking.shop_id, path, now, f"receipt-{booking.code}.pdf"))  # fmt: skip
    return path
