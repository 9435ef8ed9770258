//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.

mod common;

mod access_matrix;
mod accounts;
mod activity;
mod bad_requests;
mod disk;
mod faults;
mod files;
mod import;
mod jobs;
mod libraries;
mod media;
mod ml;
mod process;
mod queue;
mod security;
mod storage;
mod tus;
