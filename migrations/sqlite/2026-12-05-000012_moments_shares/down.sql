DROP TABLE share_visits;
DROP TABLE share_files;
DROP TABLE shares;
DROP TABLE moments;
