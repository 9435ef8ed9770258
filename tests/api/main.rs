//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.

mod common;

mod access_matrix;
mod accounts;
mod activity;
mod bad_requests;
mod dav;
mod disk;
mod face_recall;
mod faults;
mod files;
mod import;
mod jobs;
mod libraries;
mod media;
mod migrations;
mod ml;
mod process;
mod queue;
mod search;
mod security;
mod shares;
mod storage;
mod takeout;
mod timeline;
mod tus;
