DROP INDEX referral_bonuses_unannounced;
ALTER TABLE referral_bonuses DROP COLUMN announced_at;
DROP TABLE notice_marks;
DROP TABLE low_balance_thresholds;
