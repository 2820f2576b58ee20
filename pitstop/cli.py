"""`pitstop`: the operator's command line (migrations, shops, processes, the demo)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from core import logs
from core.settings import MissingSetting, load_settings, without_password


def _settings():
    try:
        return load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


class Commands(click.Group):
    """Every command's set-up mistakes said in a sentence, not a stack trace: a database
    that cannot be reached, or one the migrations have not made yet, or a Redis that
    cannot be reached."""

    def invoke(self, ctx: click.Context):
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise  # a bug, not a set-up mistake: its traceback is wanted
            raise click.ClickException(problem) from exc
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise click.ClickException(_redis_problem(exc)) from exc


def _database_problem(exc) -> str | None:
    """A sentence for a database not migrated yet (a missing table) or not usable (an
    OperationalError: unreachable, refused, locked); None for anything else."""
    from sqlalchemy.exc import OperationalError

    where = without_password(load_settings().database_url)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if "no such table" in detail or type(exc.orig).__name__ == "UndefinedTable":
        return f"the database at {where} has no Pitstop tables yet ({detail}): run `pitstop db upgrade` first"
    if isinstance(exc, OperationalError):
        return f"the database at {where} cannot be used ({detail})"
    return None


def _redis_problem(exc) -> str:
    """A sentence for a Redis that does not answer (worker, cron), its password hidden."""
    url = load_settings().redis_url
    where = f"at {without_password(url)} " if url else ""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"Redis {where}cannot be reached ({detail}); check REDIS_URL"


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Pitstop: chat-first booking for service workshops."""
    try:
        level = load_settings().log_level
    except ValueError:
        level = "INFO"  # the command reports the bad setting itself
    logs.configure("DEBUG" if verbose else level)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL (or the embedded SQLite file)."""
    from alembic.util import CommandError

    from core.migrate import current_revision, upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url, revision)
    except CommandError as exc:  # an unknown revision, or one upgrading cannot reach
        raise click.ClickException(f"cannot upgrade to {revision!r}: {exc}") from exc
    now = current_revision(settings.database_url)  # not the one asked for: upgrading never goes back
    click.echo(f"database at {without_password(settings.database_url)} is at {now or 'base (no migrations applied)'}")


def _embedded_ready(settings):
    """The settings, with the embedded database set up when it is the one used (it needs
    no `pitstop db upgrade`)."""
    if settings.embedded:
        from core.migrate import upgrade

        upgrade(settings.database_url)
    return settings


@main.group()
def shop() -> None:
    """Shops: load their files."""


@shop.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def shop_load(files: tuple[str, ...]) -> None:
    """Create or update shops from TOML files (safe to run again)."""
    from core.runtime import build_runtime
    from core.shopfile import ShopFileError, read_shop_file
    from core.shops import load_shop, repeated_prefixes

    specs, failed = [], False
    for file in files:
        try:
            specs.append(read_shop_file(file))
        except ShopFileError as exc:
            failed = True
            _complain(file, exc.problems)
    if not failed:  # only whole files can be compared
        for file, problem in repeated_prefixes(list(zip(files, specs, strict=True))):
            failed = True
            _complain(file, [problem])
    if failed:
        sys.exit(1)
    settings = _embedded_ready(_settings())
    runtime = build_runtime(settings)
    for file, spec in zip(files, specs, strict=True):
        try:
            report = load_shop(runtime.db, spec, runtime.now())
        except ShopFileError as exc:  # a clash with a shop in the database: this one is not loaded
            failed = True
            _complain(file, exc.problems)
            continue
        verb = "created" if report.created else ("updated" if report.changes else "unchanged")
        click.echo(f"shop {spec.slug}: {verb}")
        for change in report.changes if not report.created else []:
            click.echo(f"  {change}")
        for visit in report.outside_hours:
            click.echo(f"  {visit}: booked outside the new opening hours; the owner was asked to contact the customer")
    if failed:
        sys.exit(1)


def _complain(file: str, problems: list[str]) -> None:
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)


def _host_and_port(ctx: click.Context, param: click.Parameter, bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"must be HOST:PORT, e.g. 0.0.0.0:8000, not {bind!r}")
    return host or "127.0.0.1", int(port)


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, callback=_host_and_port,
              help="HOST:PORT to listen on.")  # fmt: skip
def serve(bind: tuple[str, int]) -> None:
    """Serve the webhooks (development server; production runs gunicorn, see Procfile)."""
    from webhooks import create_app

    host, port = bind
    create_app().run(host=host, port=port)


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for deliveries and payment jobs (needs REDIS_URL).

    Jobs run in this process, not in a child forked for each one: a delivery is a few
    milliseconds of work, and a fresh child would pay again for the imports, the Bot's
    HTTP client and a database connection (about 0.3 s a job; 4 forking workers sent
    4 messages a second). Run more worker processes for more jobs at once."""
    from redis import Redis

    from bot.delivery import channels
    from core.runtime import build_runtime
    from pitstop.worker import Worker

    settings = _settings()
    if settings.redis_url is None:
        raise click.ClickException(str(MissingSetting("REDIS_URL", "a separate worker process")))
    build_runtime(settings)  # the runtime jobs run against
    channels()  # imports the senders once, not in the first job
    Worker(["pitstop"], connection=Redis.from_url(settings.redis_url)).work(burst=burst, logging_level=settings.log_level)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default: var/demo")
@click.option("--lang", type=click.Choice(["en", "sw", "ru", "kk"]), default=None, help="Replay one language's part.")
@click.option("--shop", type=click.Choice(["mwangaza-motors", "zhaiyk-auto"]), default=None, help="Replay one shop's part.")
def demo(out: str | None, lang: str | None, shop: str | None) -> None:
    """Play the Pitstop story on the embedded default (SQLite, no tokens, no servers)."""
    from pitstop.demo import run_demo

    for name in ("", "werkzeug", "httpx"):  # the transcript is the output
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.exit(run_demo(Path(out) if out else None, lang, shop))


@main.command()
@click.option("--shop", "slug", required=True, help="The shop's slug, e.g. mwangaza-motors.")
@click.option("--lang", type=click.Choice(["en", "sw", "ru", "kk"]), default=None, help="Your language.")
@click.option("--phone", default=None, help="Chat as this phone number (default: a test customer).")
def chat(slug: str, lang: str | None, phone: str | None) -> None:
    """Chat with a shop in the terminal, as a customer would on Telegram or WhatsApp."""
    from sqlalchemy import select

    from bot.console import chat as run_chat
    from core.models import Shop
    from core.runtime import build_runtime

    settings = _embedded_ready(_settings())
    runtime = build_runtime(settings)
    with runtime.db.uow() as uow:
        shop_id = uow.session.scalar(select(Shop.id).where(Shop.slug == slug))
        known = list(uow.session.scalars(select(Shop.slug)))
    if shop_id is None:
        hint = f"known shops: {', '.join(known)}" if known else \
            "load one first: pitstop shop load examples/nairobi-garage.toml"
        raise click.ClickException(f"no shop {slug!r} in this database; {hint}")
    click.echo(f"Chatting with {slug}. Type a number or anything a customer would; Ctrl-D to leave.\n")
    run_chat(runtime, shop_id, phone or "console-customer", lang, clock=runtime.now)  # PITSTOP_NOW too


@main.command()
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def cron(once: bool) -> None:
    """Run the scheduled jobs: hold expiry, outbox re-drive, waitlist offers, payment
    reconciliation, reminders, digests, and dropping files sent in chat after 30 days."""
    import time

    from bot.schedule import JOBS
    from core.runtime import build_runtime

    settings = _embedded_ready(_settings())
    runtime = build_runtime(settings)
    _tables_are_there(runtime)  # else one sentence now, not a traceback per job every 5 s
    if settings.redis_url and not once:
        from rq.cron import CronScheduler

        runtime.queue.redis.ping()  # an unreachable Redis said before the scheduler logs its start
        scheduler = CronScheduler(connection=runtime.queue.redis, name="pitstop-cron")
        for func, interval in JOBS:
            scheduler.register(func, queue_name="pitstop", interval=interval)
        scheduler.start()
        return
    last: dict = {}
    while True:
        now, failed = time.monotonic(), []
        for func, interval in JOBS:
            if once or now - last.get(func, -interval) >= interval:
                last[func] = now
                try:
                    click.echo(f"{func.__name__}: {func()}")
                except Exception as exc:  # one failing job must not stop the others
                    logging.getLogger("pitstop.cron").exception("job %s failed: %s", func.__name__, exc)
                    failed.append(func.__name__)
        if once:
            if failed:
                raise click.ClickException(f"{len(failed)} job(s) failed: {', '.join(failed)} (see the log above)")
            return
        time.sleep(5)


def _tables_are_there(runtime) -> None:
    """Read the shops table once: a database not migrated yet raises here, and
    `Commands` says so in a sentence."""
    from sqlalchemy import select

    from core.models import Shop

    with runtime.db.reading() as uow:
        uow.session.execute(select(Shop.id).limit(1))


@main.command()
@click.option("--shop", "slug", required=True, help="The shop's slug.")
@click.option("--timeout", default=30, show_default=True, help="Long-poll seconds.")
def poll(slug: str, timeout: int) -> None:
    """Receive a shop's Telegram updates by long polling (for a shop without a public URL)."""
    from telegram.error import InvalidToken, TelegramError

    from bot.polling import PollingConflict, forget_webhook, poll_forever
    from core.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        forget_webhook(runtime, slug)  # a set-up mistake stops here; getUpdates needs no webhook
        poll_forever(runtime, slug, timeout)
    except (MissingSetting, LookupError, InvalidToken, PollingConflict) as exc:
        raise click.ClickException(str(exc)) from exc
    except TelegramError as exc:  # from forget_webhook: once polling, it tries again
        raise click.ClickException(_telegram_problem(exc, runtime, slug)) from exc


@main.command("set-webhook")
@click.option("--shop", "slug", required=True, help="The shop's slug.")
def set_webhook(slug: str) -> None:
    """Point the shop's Telegram bot at PUBLIC_BASE_URL/webhooks/telegram/<shop>, with its secret."""
    from telegram.error import InvalidToken, TelegramError

    from bot.polling import BadSecret, register_webhook
    from core.runtime import build_runtime

    runtime = build_runtime(_settings())
    try:
        url = register_webhook(runtime, slug)
    except (MissingSetting, LookupError, BadSecret, InvalidToken) as exc:
        raise click.ClickException(str(exc)) from exc
    except TelegramError as exc:
        raise click.ClickException(_telegram_problem(exc, runtime, slug)) from exc
    click.echo(f"webhook of {slug} set to {url}")


def _telegram_problem(exc, runtime, slug: str) -> str:
    """A sentence for what the Bot API (TELEGRAM_API_BASE) answered, or that it did not."""
    from telegram.error import TimedOut

    if isinstance(exc, TimedOut) or exc.message.startswith("httpx."):  # no answer at all
        where = runtime.settings.telegram_api_base
        return f"Telegram at {where} cannot be reached ({exc.message}); check TELEGRAM_API_BASE"
    return f"Telegram refused the request for the bot of {slug}: {exc.message}"


def _not_yet(name: str, issue: int, summary: str) -> None:
    @main.command(name, help=f"{summary} (not built yet: issue {issue}).")
    def _command() -> None:
        raise click.ClickException(f"`pitstop {name}` is not built yet (issue {issue})")


@main.command()
@click.option("--shop", "slug", required=True, help="The shop's slug.")
@click.option("--date", "day", default=None, help="The shop's local day, YYYY-MM-DD (default: today).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Where the chart and CSV go (default: digests/ under PITSTOP_VAR_DIR).")
@click.option("--lang", type=click.Choice(["en", "sw", "ru", "kk"]), default=None, help="Language (default: the shop's first).")
def digest(slug: str, day: str | None, out: str | None, lang: str | None) -> None:
    """Print a shop's daily digest; write its 14-day chart (PNG) and the day's bookings (CSV)."""
    from datetime import date

    from sqlalchemy import select

    from core import digest as digests
    from core.availability import shop_view
    from core.messages import render
    from core.models import Shop
    from core.owner import export_csv
    from core.runtime import build_runtime

    settings = _embedded_ready(_settings())
    runtime = build_runtime(settings)
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise click.ClickException(f"--date must look like 2026-11-23, not {day!r}") from exc
    with runtime.db.uow() as uow:
        s = uow.session
        shop_id = s.scalar(select(Shop.id).where(Shop.slug == slug))
        if shop_id is None:
            raise click.ClickException(f"no shop {slug!r} in this database; load it with `pitstop shop load FILE`")
        view = shop_view(s, shop_id)
        wanted = wanted or view.local_day(runtime.now())
        lang = lang or view.spec.languages[0]
        figures = digests.figures_for(s, shop_id, wanted, runtime.now())
        for msg in digests.texts(figures):
            click.echo(render(msg, lang))
        folder = Path(out) if out else settings.var_dir / "digests"
        chart = digests.write_chart(figures, lang, folder / f"{slug}-{wanted.isoformat()}.png")
        table, rows = export_csv(s, shop_id, wanted, wanted, folder / f"{slug}-{wanted.isoformat()}.csv", lang)
    click.echo(f"\nchart: {chart}\nbookings ({rows}): {table}")


if __name__ == "__main__":
    main()
