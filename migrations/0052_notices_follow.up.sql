-- notices_follow keeps each customer's notifications in the order their
-- transactions committed, as the feed and the webhooks read them (by
-- transaction id). A transaction gets its id when it first locks or writes
-- a row. One that locks several customers gets it at the first, and may
-- then wait for another's lock: a writer of a customer it has not locked
-- yet can meanwhile lock that customer, write a notification with a later
-- id and commit first. Called once the customers (ids, and their referrers
-- when referrers is set) are locked, before anything is written for them,
-- it refuses the transaction (SQLSTATE 40T01, in class 40 with the
-- serialization failures: the caller runs it again, with a new id) when a
-- notification of one of them has a later id than the transaction's own:
-- one committed, since the locks are held. It reads notifications_order
-- from the transaction's id on: the notifications of the transactions that
-- began writing after it.
CREATE FUNCTION notices_follow(ids text[], referrers boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    me xid8 := pg_current_xact_id();
    locked text[] := ids;
BEGIN
    IF referrers THEN
        locked := locked || ARRAY(SELECT c.referred_by FROM customers c WHERE c.id = ANY (ids) AND c.referred_by IS NOT NULL);
    END IF;
    -- In xid order, from this transaction's on: the index's order, whatever
    -- the plan's estimates (groups run on generic plans).
    PERFORM FROM notifications n WHERE n.xid > me AND n.customer_id = ANY (locked) ORDER BY n.xid LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a notification of a customer this transaction locks committed after it began writing'
            USING ERRCODE = '40T01',
                  HINT = 'retry the transaction: its notifications then follow';
    END IF;
END
$$;
