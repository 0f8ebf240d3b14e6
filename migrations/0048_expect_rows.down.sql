DROP FUNCTION expect_rows(bigint, integer, text);
