"""shops, inbox, conversations, customers: a chat message's shop view confirmed, the
message recorded, its chat locked and its customer read, in one call

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 20:00:00

PostgreSQL only, as 0005: the statements every chat message begins with, in one round
trip instead of four (core/chats.py `take_message`; SQLite runs them one by one). Given
the stamp of the shop's view its caller authenticated the message with (a view the
process kept from an earlier message), it first checks that the shop has not changed
since, and does nothing if it has: the caller then starts again with the view read afresh.
Under READ COMMITTED a VOLATILE function takes a fresh snapshot for each statement it
runs, so the customer, read after the chat's lock is granted, includes whatever the
chat's previous message committed: read in the lock's own statement it might not. The
chat and the customer come back as rows of their tables' own types, so a column added
to either later needs no change here.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TAKE_MESSAGE = """
CREATE OR REPLACE FUNCTION pitstop_take_message(
    p_shop integer, p_external_id text, p_payload text, p_now timestamptz,
    p_outcome text, p_channel text, p_chat text, p_first_state text, p_stamp timestamptz)
RETURNS TABLE (t_current boolean, t_inbox integer, t_duplicate boolean, t_chat conversations,
               t_identity integer, t_seen timestamptz, t_customer customers)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_customer integer;
BEGIN
    -- the shop's view the caller holds (its stamp) still the shop's own, else nothing done
    t_current := p_stamp IS NULL OR EXISTS (SELECT FROM shops s WHERE s.id = p_shop AND s.updated_at = p_stamp);
    IF NOT t_current THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- the delivery, once, its source the channel: a repeat (or one still being handled, which
    -- this waits for) is reported
    INSERT INTO inbox_updates (source, external_id, shop_id, payload, received_at, outcome, processed_at)
    VALUES (p_channel, p_external_id, p_shop, p_payload, p_now, p_outcome, p_now)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id INTO t_inbox;
    t_duplicate := t_inbox IS NULL;
    IF t_duplicate THEN
        SELECT u.id INTO t_inbox FROM inbox_updates u WHERE u.source = p_channel AND u.external_id = p_external_id;
    ELSIF p_chat IS NOT NULL THEN
        -- the chat's lock, the first a message takes; its row made by its first message
        -- (or by another process a moment ago: then theirs is the one locked)
        SELECT c.* INTO t_chat FROM conversations c
        WHERE c.shop_id = p_shop AND c.channel = p_channel AND c.chat_id = p_chat FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO conversations (shop_id, channel, chat_id, state, data, version, updated_at)
            VALUES (p_shop, p_channel, p_chat, p_first_state, '{}', 0, p_now)
            ON CONFLICT (shop_id, channel, chat_id) DO NOTHING;
            SELECT c.* INTO t_chat FROM conversations c
            WHERE c.shop_id = p_shop AND c.channel = p_channel AND c.chat_id = p_chat FOR UPDATE;
        END IF;
        -- its customer, read with a snapshot taken after the lock was granted
        SELECT i.id, i.last_inbound_at, i.customer_id INTO t_identity, t_seen, v_customer
        FROM channel_identities i WHERE i.shop_id = p_shop AND i.channel = p_channel AND i.address = p_chat;
        IF t_identity IS NOT NULL THEN
            SELECT u.* INTO t_customer FROM customers u WHERE u.id = v_customer;
        END IF;
    END IF;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE_MESSAGE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS pitstop_take_message")
