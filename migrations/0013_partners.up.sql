-- Partners: one identity with several API keys. The ids a caller writes
-- (event ids, redemption ids, money-movement ids, idempotency keys) are
-- unique per space, not per key: a partner key writes in its partner's
-- space ('partner:<id>'), shared by every key of the partner, so a key
-- rotated mid-retry replays what the old key wrote; a customer key in its
-- customer's space ('customer:<id>'), which no partner reaches; an admin
-- (or finance) key in a space of its own ('key:<id>').
CREATE TABLE partners (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER partners_no_delete BEFORE DELETE OR TRUNCATE ON partners
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();

-- Every existing partner key becomes a partner of its own, with the key's
-- id, so no two ids written before collide in a shared space.
INSERT INTO partners (id, name, created_at) OVERRIDING SYSTEM VALUE
SELECT id, name, created_at FROM api_keys WHERE role = 'partner';
SELECT setval(pg_get_serial_sequence('partners', 'id'), coalesce(max(id), 0) + 1, false) FROM partners;

ALTER TABLE api_keys ADD COLUMN partner_id bigint REFERENCES partners (id);
UPDATE api_keys SET partner_id = id WHERE role = 'partner';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_partner_role CHECK ((role = 'partner') = (partner_id IS NOT NULL));
CREATE INDEX api_keys_partner ON api_keys (partner_id) WHERE partner_id IS NOT NULL;

-- The space of a key, as the application computes it (ledger.APIKey.Space).
CREATE FUNCTION pg_temp.key_space(k api_keys) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN k.partner_id IS NOT NULL THEN 'partner:' || k.partner_id
                WHEN k.customer_id IS NOT NULL THEN 'customer:' || k.customer_id
                ELSE 'key:' || k.id END
$$;

-- Events keep the key that sent them (key_id) and are unique per space.
ALTER TABLE events ADD COLUMN space text;
UPDATE events v SET space = pg_temp.key_space(k) FROM api_keys k WHERE k.id = v.key_id;
UPDATE events SET space = 'key:' || key_id WHERE space IS NULL;
ALTER TABLE events ALTER COLUMN space SET NOT NULL,
    DROP CONSTRAINT events_pkey,
    ADD PRIMARY KEY (space, event_id);

-- Redemptions and money movements did not record their key: the key is the
-- one named by their entry's actor ('key:<id>:<name>'). One with no such
-- actor keeps the space 'unknown', where only an admin reaches it.
ALTER TABLE redemptions ADD COLUMN space text;
UPDATE redemptions r SET space = pg_temp.key_space(k)
FROM entries e, api_keys k
WHERE e.id = r.entry_id AND k.id = substring(e.actor FROM '^key:([0-9]+):')::bigint;
UPDATE redemptions SET space = 'unknown' WHERE space IS NULL;
ALTER TABLE redemptions ALTER COLUMN space SET NOT NULL,
    DROP CONSTRAINT redemptions_pkey,
    ADD PRIMARY KEY (space, id);
CREATE INDEX redemptions_id ON redemptions (id);

ALTER TABLE money_movements ADD COLUMN space text;
UPDATE money_movements m SET space = pg_temp.key_space(k)
FROM entries e, api_keys k
WHERE e.id = m.entry_id AND k.id = substring(e.actor FROM '^key:([0-9]+):')::bigint;
UPDATE money_movements SET space = 'unknown' WHERE space IS NULL;
ALTER TABLE money_movements ALTER COLUMN space SET NOT NULL,
    DROP CONSTRAINT money_movements_pkey,
    ADD PRIMARY KEY (space, kind, id);
CREATE INDEX money_movements_id ON money_movements (kind, id);
