DROP TABLE library_invites;
DROP TABLE library_members;
DROP TABLE libraries;
DROP TABLE settings;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
