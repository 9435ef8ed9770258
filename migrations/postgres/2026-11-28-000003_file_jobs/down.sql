DROP TABLE file_jobs;
