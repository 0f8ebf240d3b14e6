-- What the notice jobs and the low-balance notices need (packages loyalty
-- and prepaid; the notices themselves are rows of notifications).

-- A partner's low-balance threshold (package prepaid): a charge or a
-- withdrawal that takes a customer's prepaid balance (principal and rebate
-- together) from at or above it to below it tells that partner, once per
-- such movement (prepaid.low_balance). 0 tells nothing.
CREATE TABLE low_balance_thresholds (
    partner_id bigint PRIMARY KEY REFERENCES partners (id),
    threshold  numeric NOT NULL CHECK (threshold >= 0 AND threshold = round(threshold, 2)),
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);
CREATE INDEX low_balance_thresholds_crossing ON low_balance_thresholds (threshold) WHERE threshold > 0;

-- How far a notice job has announced (package loyalty): points.expiring
-- has announced every lead time that began at or before done_through, the
-- month turn's downgrades every month that began at or before it. A run
-- starts from its mark, so a periodic run reads only what is new; each
-- notice is once only by its once_key whatever the marks say.
CREATE TABLE notice_marks (
    job          text PRIMARY KEY,
    done_through timestamptz NOT NULL
);

-- A paid referral bonus is announced (referral.bonus_available) once its
-- pending window has ended: announced_at is when. The bonuses available
-- before notices existed count as announced.
ALTER TABLE referral_bonuses ADD COLUMN announced_at timestamptz;
UPDATE referral_bonuses SET announced_at = available_at WHERE status = 'paid' AND available_at <= now();
CREATE INDEX referral_bonuses_unannounced ON referral_bonuses (available_at, referee_id)
    WHERE status = 'paid' AND announced_at IS NULL;
