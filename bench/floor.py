"""The floor under bench/webhooks.py: what this machine gives when an update does only
what the design cannot do without, written on psycopg and redis-py alone. Each update
is authenticated by its secret header, parsed, recorded under its update_id, applied
to its chat's row locked FOR UPDATE, its reply written to an outbox in the same
transaction, and one job pushed to Redis after the commit: the same round trips as
Pitstop's on PostgreSQL (BEGIN, one call that confirms the shop, records the update,
locks the chat and reads its customer as migration 0008's does, the chat's new state,
the answer, COMMIT, then Redis), served by the same gunicorn and Flask, loaded by the
same clients. `--bare` drops the database and Redis too: the HTTP
round trip alone. Run by hand, beside bench/webhooks.py, in the same minutes:

    .venv/bin/python bench/floor.py [--bare] [--clients 4] [--seconds 20] [--workers 4]

The gap between its figures and bench/webhooks.py's is what Pitstop's own code costs
(SQLAlchemy, the dialogue, python-telegram-bot's parsing, RQ); the floor's own figures
are what no rewrite of that code could beat on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhooks import BASE, REDIS, SECRET, serve_and_measure_app  # noqa: E402

TABLES = """
CREATE TABLE inbox (update_id bigint PRIMARY KEY, received_at timestamptz NOT NULL, payload jsonb NOT NULL);
CREATE TABLE conversations (chat_id bigint PRIMARY KEY, state jsonb NOT NULL, version int NOT NULL,
                            updated_at timestamptz NOT NULL);
CREATE TABLE outbox (id bigserial PRIMARY KEY, chat_id bigint NOT NULL, body jsonb NOT NULL,
                     status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE identities (chat_id bigint PRIMARY KEY, customer_id bigint NOT NULL);
CREATE TABLE shops (id int PRIMARY KEY, slug text UNIQUE NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO shops VALUES (1, 'mwangaza-motors', now()), (2, 'zhaiyk-auto', now());
CREATE FUNCTION take(p_shop text, p_update bigint, p_payload jsonb, p_chat bigint)
RETURNS TABLE (fresh boolean, state jsonb, version int, customer bigint) LANGUAGE plpgsql VOLATILE AS $$
DECLARE got bigint;
BEGIN
    PERFORM 1 FROM shops WHERE slug = p_shop;  -- the shop's view confirmed, as migration 0008's stamp check
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO inbox VALUES (p_update, now(), p_payload) ON CONFLICT DO NOTHING RETURNING update_id INTO got;
    fresh := got IS NOT NULL;
    IF fresh THEN
        SELECT c.state, c.version INTO state, version FROM conversations c WHERE c.chat_id = p_chat FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO conversations VALUES (p_chat, '{}', 0, now()) ON CONFLICT DO NOTHING;
            SELECT c.state, c.version INTO state, version FROM conversations c WHERE c.chat_id = p_chat FOR UPDATE;
        END IF;
        SELECT i.customer_id INTO customer FROM identities i WHERE i.chat_id = p_chat;
    END IF;
    RETURN NEXT;
END
$$;
"""


def create_app():
    """The gunicorn entry point: one psycopg connection and one Redis client per worker,
    opened at the worker's first update."""
    import flask
    import psycopg
    import redis

    app = flask.Flask(__name__)
    bare = os.environ.get("FLOOR_BARE") == "1"
    held: dict = {}

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.post("/webhooks/telegram/<shop>")
    def telegram(shop: str):
        if flask.request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return {"ok": False}, 401
        update = json.loads(flask.request.get_data())
        if bare:
            return {"ok": True}
        if not held:
            held["db"] = psycopg.connect(os.environ["FLOOR_DSN"])
            held["redis"] = redis.Redis.from_url(REDIS)
        step(held["db"], held["redis"], shop, update)
        return {"ok": True}

    return app


def step(db, queue, shop: str, update: dict) -> None:
    """One update's transaction and its job, statement for statement as Pitstop's."""
    message = update.get("message") or update["callback_query"]["message"]
    chat_id = message["chat"]["id"]
    with db.transaction():
        fresh, *_ = db.execute("SELECT * FROM take(%s, %s, %s, %s)",
                               (shop, update["update_id"], json.dumps(update), chat_id)).fetchone()  # fmt: skip
        if not fresh:
            return
        db.execute("UPDATE conversations SET state = %s, version = version + 1, updated_at = now() WHERE chat_id = %s",
                   (json.dumps({"step": update["update_id"]}), chat_id))  # fmt: skip
        outbox_id = db.execute("INSERT INTO outbox (chat_id, body, status, created_at) VALUES (%s, %s, 'pending', now())"
                               " RETURNING id", (chat_id, json.dumps({"text": "ok"}))).fetchone()[0]  # fmt: skip
    queue.rpush("floor:jobs", outbox_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", action="store_true", help="HTTP only: no database, no Redis")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import psycopg

    base = BASE.replace("postgresql+psycopg://", "postgresql://")
    name = f"pitstop_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(TABLES)
        env = dict(os.environ, FLOOR_DSN=dsn, FLOOR_BARE="1" if args.bare else "0")
        serve_and_measure_app("bench.floor:create_app()", env, args)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import redis

        redis.Redis.from_url(REDIS).delete("floor:jobs")


if __name__ == "__main__":
    main()
