DROP TABLE web_sessions;
DROP TABLE portal_links;
