DROP INDEX files_library_taken;
