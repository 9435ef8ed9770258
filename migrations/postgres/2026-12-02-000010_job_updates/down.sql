DROP INDEX file_jobs_updated;
