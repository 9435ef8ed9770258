DROP TABLE files;
DROP TABLE folders;
