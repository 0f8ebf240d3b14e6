DROP TABLE expiry_run_entries;
DROP TABLE expiry_runs;
