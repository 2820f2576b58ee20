"""`pitstop`: the operator's command line (migrations, shops, processes, the demo)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from core.settings import MissingSetting, load_settings


def _settings():
    try:
        return load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Pitstop: chat-first booking for service workshops."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL (or the embedded SQLite file)."""
    from core.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {_safe_url(settings.database_url)} is at {revision}")


@main.group()
def shop() -> None:
    """Shops: load their files."""


@shop.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def shop_load(files: tuple[str, ...]) -> None:
    """Create or update shops from TOML files (safe to run again)."""
    from core.runtime import build_runtime
    from core.shopfile import ShopFileError, read_shop_file
    from core.shops import load_shop

    specs, failed = [], False
    for file in files:
        try:
            specs.append(read_shop_file(file))
        except ShopFileError as exc:
            failed = True
            for line in exc.problems:
                click.echo(f"{file}: {line}", err=True)
    if failed:
        sys.exit(1)
    runtime = build_runtime(_settings())
    for spec in specs:
        report = load_shop(runtime.db, spec)
        verb = "created" if report.created else ("updated" if report.changes else "unchanged")
        click.echo(f"shop {spec.slug}: {verb}")
        for change in report.changes if not report.created else []:
            click.echo(f"  {change}")


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
def serve(bind: str) -> None:
    """Serve the webhooks (development server; production runs gunicorn, see Procfile)."""
    from webhooks import create_app

    host, _, port = bind.rpartition(":")
    create_app().run(host=host or "127.0.0.1", port=int(port))


@main.command()
def worker() -> None:
    """Run an RQ worker for deliveries and payment jobs (needs REDIS_URL)."""
    from redis import Redis
    from rq import Worker

    settings = _settings()
    if settings.redis_url is None:
        raise click.ClickException(str(MissingSetting("REDIS_URL", "a separate worker process")))
    Worker(["pitstop"], connection=Redis.from_url(settings.redis_url)).work()


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default: var/demo")
def demo(out: str | None) -> None:
    """Play the Pitstop story on the embedded default (SQLite, no tokens, no servers)."""
    from pitstop.demo import run_demo

    sys.exit(run_demo(Path(out) if out else None))


def _not_yet(name: str, issue: int, summary: str) -> None:
    @main.command(name, help=f"{summary} (not built yet: issue {issue}).")
    def _command() -> None:
        raise click.ClickException(f"`pitstop {name}` is not built yet (issue {issue})")


_not_yet("chat", 4, "Chat with a shop in the terminal")
_not_yet("cron", 5, "Run the scheduled jobs")
_not_yet("poll", 5, "Run Telegram long polling for a shop")
_not_yet("digest", 7, "Print a shop's daily digest")
_not_yet("set-webhook", 5, "Register a shop's Telegram webhook")


def _safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
