"""`pitstop demo`: the story of two workshops, played on the embedded default.

Until the chat channels land this plays the first chapter for real: a fresh SQLite
database, the migrations, both example shops loaded from their files, and what each
shop offers, in each of its languages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from core.i18n import money
from core.migrate import upgrade
from core.runtime import build_runtime
from core.settings import load_settings
from core.shopfile import read_shop_file
from core.shops import load_shop

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_demo(out: Path | None = None) -> int:
    """Play the story; return the process exit code (0 when every step worked)."""
    base = load_settings(environ={})
    out = (out or base.var_dir / "demo").resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    settings = load_settings(environ={"DATABASE_URL": f"sqlite:///{out / 'pitstop.db'}"}, dotenv_path=None)
    step = "migrating a fresh database"
    try:
        upgrade(settings.database_url)
        runtime = build_runtime(settings)
        for file in sorted(EXAMPLES.glob("*.toml")):
            step = f"loading {file.name}"
            spec = read_shop_file(file)
            load_shop(runtime.db, spec)
            _print_shop(spec)
        runtime.close()
    except Exception as exc:
        click.echo(f"demo failed while {step}: {exc}", err=True)
        return 1
    click.echo(f"\nDatabase: {out / 'pitstop.db'}")
    return 0


def _print_shop(spec) -> None:
    click.echo(f"\n== {spec.name} ({spec.slug}), {spec.timezone}, {spec.currency}")
    click.echo(f"   {len(spec.staff)} staff, {len(spec.bays)} bays, pays by {', '.join(spec.payment_methods)}")
    for service in spec.services:
        names = " / ".join(service.names[lang] for lang in spec.languages)
        price = money(service.price_minor, spec.currency, spec.languages[0])
        click.echo(f"   - {names}: {service.duration_minutes} min, {price}")
