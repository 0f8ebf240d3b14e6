-- 0043 only checked 0042's index and named its query. Going down, 0044's
-- down has built money_movements_customer again: its comment, as 0031
-- wrote it.
COMMENT ON INDEX money_movements_customer IS
    'prepaid.History: a customer''s movements, the latest first';
