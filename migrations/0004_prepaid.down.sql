DROP INDEX postings_effective;
DROP TABLE money_movements;
