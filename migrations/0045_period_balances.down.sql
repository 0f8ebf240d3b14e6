DROP TABLE period_balances;
