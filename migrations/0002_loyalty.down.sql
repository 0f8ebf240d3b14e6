DROP TABLE events;
DROP TABLE campaigns;
DROP TABLE referral_bonuses;
DROP TABLE shipments;
DROP TABLE customer_months;
DROP TABLE customers;
DROP TABLE rule_sets;
ALTER TABLE entries DROP COLUMN rule_version;
