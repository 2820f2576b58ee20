"""bookings: a hold takes its day's lock, or waits for it, and reads the day in one call

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00

PostgreSQL only (SQLite writers are serial already; see core/availability.py). Under
READ COMMITTED (Pitstop's level) a VOLATILE function takes a fresh snapshot for each
statement it runs, so the rows it reads after waiting include whatever the writer it
waited for committed. Which bookings occupy time is the rule of `_OCCUPIED` in
core/availability.py, passed in as the statuses; change the two together.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TAKE_DAY_AND_LOOK = """
CREATE OR REPLACE FUNCTION pitstop_take_day_and_look(
    p_shop integer, p_day integer, p_from timestamptz, p_until timestamptz,
    p_now timestamptz, p_occupying text[], p_held text)
RETURNS TABLE (ours boolean, starts timestamptz[], ends timestamptz[],
               mechanic_ids integer[], bay_ids integer[], overdue_holds bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    got boolean := pg_try_advisory_xact_lock(p_shop, p_day);
BEGIN
    IF NOT got THEN
        -- another writer holds the day: wait for it to finish, keep nothing
        PERFORM pg_advisory_lock_shared(p_shop, p_day);
        PERFORM pg_advisory_unlock_shared(p_shop, p_day);
    END IF;
    -- what occupies the window, and how many holds in it ran out unswept
    RETURN QUERY
        SELECT got,
               array_agg(b.starts_at ORDER BY b.id) FILTER (WHERE b.live),
               array_agg(b.ends_at ORDER BY b.id) FILTER (WHERE b.live),
               array_agg(b.mechanic_id ORDER BY b.id) FILTER (WHERE b.live),
               array_agg(b.bay_id ORDER BY b.id) FILTER (WHERE b.live),
               count(*) FILTER (WHERE NOT b.live)
        FROM (SELECT id, starts_at, ends_at, mechanic_id, bay_id,
                     status <> p_held OR hold_expires_at > p_now AS live
              FROM bookings
              WHERE shop_id = p_shop AND starts_at < p_until AND blocks_until > p_from
                AND status = ANY (p_occupying)) AS b;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE_DAY_AND_LOOK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pitstop_take_day_and_look")
