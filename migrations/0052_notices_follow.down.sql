DROP FUNCTION notices_follow(text[], boolean);
