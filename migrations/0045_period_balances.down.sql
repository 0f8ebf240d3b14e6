DROP TABLE period_balances;
DROP FUNCTION period_balances_kept();
