"""Doing what the staff engine asked, against core, in the message's transaction.

This is where permissions are enforced (the engine's menus only reflect them): owner
commands need the owner, a job needs its own mechanic or the owner, and every refusal
is logged with the phone masked. Each outcome goes back to the engine.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import photos, staff_words, understand
from bot import staff_model as sm
from bot.engine import REPLY_TO_SHOP, REPLY_WORDS
from bot.staff_context import DbStaffContext
from core import availability as av
from core import digest, files, notices, outbox, owner, parts, payments, shopfloor
from core import messages as m
from core.availability import local_bounds
from core.customers import called, mask_phone
from core.db import defer, undoable
from core.i18n import N_
from core.lifecycle import IllegalMove
from core.messages import Choice, Msg, Reply, remembered_choices
from core.models import Booking, BookingItem, Customer, Part, Staff

REPLY_CHOICE = Choice(REPLY_TO_SHOP, Msg(N_("Reply")))  # under what the shop says to a customer: a conversation
log = logging.getLogger(__name__)
OWNER_ONLY = N_("Only the owner can do that.")
NOT_YOURS = N_("That job is not yours. Ask the owner to move it.")
SHOPFLOOR = (sm.JobAction, sm.Complete, sm.ProposeExtra, sm.Shift)  # core.shopfloor may refuse them half-way


def out_dir() -> Path:
    from core.runtime import current_runtime

    return current_runtime().settings.var_dir


def refuse(staff: Staff, what: str, reason: str, channel: str) -> None:
    log.warning("refused %r for %s %s (%s on %s) of shop %s: %s", what, staff.role, staff.id,
                mask_phone(staff.phone), channel, staff.shop_id, reason)  # fmt: skip


def execute(session: Session, ctx: DbStaffContext, command, channel: str, chat_id: str):
    """Carry out one command; return an outcome for the engine."""
    staff = session.get(Staff, ctx.staff.id)
    now = ctx.now
    is_owner = staff.role == "owner"

    def owner_only(what: str):
        refuse(staff, what, "owner only", channel)
        return sm.StaffRefused(OWNER_ONLY)

    try:
        with undoable(session) as writing:  # a refusal undoes what the command wrote, and its jobs
            if isinstance(command, SHOPFLOOR):  # the ones that can be refused after writing
                writing()
            match command:
                case sm.Denied(what):
                    if what.split()[0] in staff_words.OWNER_ONLY:
                        return owner_only(what)
                    refuse(staff, what, "not their job", channel)
                    return sm.StaffRefused(NOT_YOURS)
                case sm.JobAction(booking_id, action):
                    run = {"received": shopfloor.receive, "start": shopfloor.start, "ready": shopfloor.ready,
                           "noshow": shopfloor.no_show, "ready_leaving_out": partial(shopfloor.ready, leaving_out=True)}[action]  # fmt: skip
                    moved = run(session, staff.id, booking_id, now)
                    if action == "noshow":
                        return sm.StaffDone("noshow", {"code": moved.code, "tokens_left": moved.detail["tokens_left"]})
                    return sm.StaffDone("moved", {"code": moved.code, "status": moved.status,
                                                  "left_out": moved.detail.get("left_out", []),
                                                  "given_to": moved.detail.get("given_to")})  # fmt: skip
                case sm.Complete(booking_id, cash_paid):
                    done = shopfloor.complete(session, staff.id, booking_id, now, cash_paid)
                    return sm.StaffDone("completed", {"code": done.code, "low_parts": done.detail["low_parts"]})
                case sm.ProposeExtra(booking_id, work, price, photo):
                    proposed = shopfloor.propose_extra(session, staff.id, booking_id, work, price, now)
                    if photo:
                        _extra_photo(session, proposed.detail["item_id"], photo, now)
                    return sm.StaffDone("extra", {"work": work, "price": price})
                case sm.Shift(on):
                    if on:
                        shopfloor.on_shift(session, staff.id)
                        return sm.StaffDone("on")
                    change = shopfloor.off_shift(session, staff.id, now)
                    return sm.StaffDone("off", {"moved": list(change.reassigned), "waiting": list(change.unassigned)})
                case sm.Stock():
                    lines = parts.levels(session, staff.shop_id)
                    texts = [Msg(N_("Parts in stock:"))] + [
                        Msg(N_("{part} ({code}): {stock}, minimum {min}") if not p.low else
                            N_("{part} ({code}): {stock}, minimum {min}: LOW"),
                            {"part": p.name, "code": p.code, "stock": p.stock, "min": p.min_level}) for p in lines]  # fmt: skip
                    if not lines:
                        texts.append(Msg(N_("This shop keeps no parts list.")))
                    return sm.Shown(tuple(texts))
                case sm.Restock(part_text, qty):
                    if not is_owner:
                        return owner_only("restock")
                    code = _part_code(session, staff.shop_id, part_text)
                    if code is None:
                        return sm.StaffRefused(N_("I do not know the part \"{part}\". Send /stock to see the list."),
                                               {"part": part_text})  # fmt: skip
                    line = parts.restock(session, staff.shop_id, code, qty)
                    return sm.StaffDone("restock", {"part": line.name, "stock": line.stock})
                case sm.Report(what, day):
                    if not is_owner:
                        return owner_only(what)
                    if what == "digest":
                        figures = digest.figures_for(session, staff.shop_id, day, now)
                        digest.send_to(session, staff.shop_id, figures, now, out_dir(), channel, chat_id, ctx.staff.language)
                        return sm.StaffDone("digest")
                    texts = {"today": owner.today_texts, "week": owner.week_texts}.get(what)
                    if texts is not None:
                        return sm.Shown(tuple(texts(session, staff.shop_id, now)))
                    return sm.Shown(tuple(owner.hours_texts(session, staff.shop_id, ctx.today())))
                case sm.SetDay(day, closed, reason):
                    if not is_owner:
                        return owner_only("close" if closed else "open")
                    noon = local_bounds(ctx.staff.timezone, day, day)[0].replace(hour=12)
                    try:
                        change = owner.set_day(session, staff.shop_id, day, closed, reason, now)
                    except owner.NoHoursThatDay:
                        return sm.StaffRefused(N_("{day} cannot be opened: the shop file gives no opening hours "
                                                  "for that day of the week."), {"day": m.day(noon, ctx.staff.timezone)})  # fmt: skip
                    log.info("owner %s %s %s (%s)", staff.id, "closed" if closed else "opened", day, reason or "-")
                    return sm.StaffDone("day", {"noon": noon.isoformat(), "closed": closed, "codes": list(change.codes)})
                case sm.ResetTokens(phone_text):
                    if not is_owner:
                        return owner_only("tokens")
                    try:
                        whom, n = owner.reset_tokens(session, staff.shop_id, phone_text, now)
                    except owner.NoSuchCustomer:
                        if owner.booking_code_like(phone_text):
                            return sm.StaffRefused(N_("There is no booking {code} in this shop."),
                                                   {"code": phone_text.strip().upper()})  # fmt: skip
                        return sm.StaffRefused(N_("No customer of this shop has the number {phone}."), {"phone": phone_text})
                    return sm.StaffDone("tokens", {"phone": whom, "n": n})
                case sm.AnswerCustomer(customer_id, text, photo, more_photos):
                    if not is_owner:
                        return owner_only("answer")
                    return _answer(session, staff, customer_id, text, now, (photo, *more_photos) if photo else ())
                case sm.MarkRefunded(number):
                    if not is_owner:
                        return owner_only("refunded")
                    job = ctx.find_job(number)
                    if job is None:
                        return sm.StaffRefused(N_("There is no booking {code} in this shop."),
                                               {"code": number.strip().upper()})  # fmt: skip
                    returned = payments.mark_refunded(session, job.id, f"staff:{staff.id}", now)
                    if returned is None:
                        return sm.StaffRefused(N_("Booking {code} has no money due back."), {"code": job.code})
                    return sm.StaffDone("refunded", {"code": returned.code, "amount": returned.amount_minor,
                                                     "currency": returned.currency})  # fmt: skip
                case sm.Export(first, last):
                    if not is_owner:
                        return owner_only("export")
                    if (last - first).days > owner.MAX_EXPORT_DAYS:
                        return sm.StaffRefused(N_("That is too long: export at most a year at a time."))
                    slug = ctx.view.spec.slug
                    path, rows = owner.export_csv(session, staff.shop_id, first, last,
                                                  out_dir() / "exports" / f"{slug}-{first}-{last}.csv", ctx.staff.language)  # fmt: skip
                    caption = Reply((Msg(N_("Bookings from {first} to {last}"), {"first": first.isoformat(), "last": last.isoformat()}),))
                    outbox.send(session, shop_id=staff.shop_id, channel=channel, address=chat_id, language=ctx.staff.language,
                                reply=caption, now=now, kind="document", extra=files.keep(session, staff.shop_id, path, now))  # fmt: skip
                    return sm.StaffDone("export", {"rows": rows})
                case sm.SetLanguage(lang):
                    if lang in ctx.staff.languages:
                        staff.language = lang
                    return sm.StaffDone("language")
    except shopfloor.NotAllowed as exc:
        refuse(staff, type(command).__name__, exc.reason, channel)
        return sm.StaffRefused(exc.reason, exc.params)
    except shopfloor.WrongStatus as exc:
        return sm.StaffRefused(exc.reason, exc.params)
    except IllegalMove as exc:
        log.info("staff %s: %s", staff.id, exc)
        return sm.StaffRefused(N_("That cannot be done with this job now."))
    return None


def _extra_photo(session: Session, item_id: int, photo: str, now: datetime) -> None:
    """The mechanic's photo of the extra work, to the customer after the question (fetched
    when it is first sent, bot.photos). On WhatsApp outside the window no template carries
    it: it goes when they next write."""
    item = session.get(BookingItem, item_id)
    booking = session.get(Booking, item.booking_id)
    caption = Reply((Msg(N_("Photo of the extra work on {code}: {work}"),
                         {"code": booking.code, "work": item.description}),))  # fmt: skip
    notices.notify_customer(session, booking, caption, f"extra-photo:{item_id}", now, kind="photo",
                            extra=photos.passed_on(photo))  # fmt: skip


def _part_code(session: Session, shop_id: int, text: str) -> str | None:
    rows = list(session.execute(select(Part.code, Part.name).where(Part.shop_id == shop_id)))
    wanted = text.strip().lower()
    for code, _name in rows:
        if code == wanted:
            return code
    return understand.pick_choice(text, [(code, [code, name]) for code, name in rows])


def _answer(session: Session, staff: Staff, customer_id: int, text: str, now,
            photos: tuple[str, ...] = ()) -> sm.StaffDone | sm.StaffRefused:  # fmt: skip
    """Send the owner's words (and photos, each a message of its own) to a customer of their
    shop who wrote to it, where the customer last wrote from. WhatsApp carries a shop's own
    words only within 24 hours of the customer's last message: after that the owner is
    told to call instead."""
    customer = session.get(Customer, customer_id)
    identity = outbox.reach(session, customer) if customer is not None and customer.shop_id == staff.shop_id else None
    if identity is None:
        return sm.StaffRefused(N_("That customer can no longer be reached here."))
    if identity.channel == "whatsapp" and (identity.last_inbound_at is None or now - identity.last_inbound_at >= notices.WHATSAPP_WINDOW):
        return sm.StaffRefused(N_("{name} last wrote more than a day ago, and WhatsApp lets a shop write first only "
                                  "with an approved template. Please call them: {phone}."),
                               {"name": called(customer), "phone": customer.phone or "-"})  # fmt: skip
    shop = av.shop_view(session, staff.shop_id).spec.name
    reply = Reply((Msg(N_("{shop} answers: {text}"), {"shop": shop, "text": text}),),
                  (REPLY_CHOICE,))  # a conversation, not one message each way
    row = outbox.send(session, shop_id=staff.shop_id, channel=identity.channel, address=identity.address,
                      language=customer.language, reply=reply, now=now) if text else None  # fmt: skip
    for photo in photos:
        _photo_to_customer(session, staff.shop_id, customer, identity, shop, photo, now)
    if row is not None or photos:  # at the menu their next words go to the shop, as a reply in a chat; "Reply" too
        defer(session, notices.remember_choices, staff.shop_id, identity.channel, identity.address,
              remembered_choices(reply.choices, customer.language, {REPLY_TO_SHOP: REPLY_WORDS}), now.isoformat(),
              False, customer.language, None, None, "shop_answered")  # a job's arguments go by position  # fmt: skip
    log.info("owner %s answered customer %s", staff.id, mask_phone(customer.phone))
    return sm.StaffDone("answered", {"name": called(customer)})


def _photo_to_customer(session: Session, shop_id: int, customer: Customer, identity, shop: str, photo: str,
                       now) -> None:  # fmt: skip
    """The owner's photo to the customer, after their words, in the answer's own
    transaction: the row carries the photo's reference, fetched when it is first sent
    (bot.photos), so the outbox's retries and re-drive carry the fetch too."""
    reply = Reply((Msg(N_("Photo from {shop}"), {"shop": shop}),), (REPLY_CHOICE,))
    key = photos.dedupe_key("answer-photo", customer.id, photo, now)
    outbox.send(session, shop_id=shop_id, channel=identity.channel, address=identity.address,
                language=customer.language, reply=reply, dedupe_key=key, now=now, kind="photo",
                extra=photos.passed_on(photo))  # fmt: skip
