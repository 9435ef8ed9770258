//! Alcoves: a self-hosted media library for a home NAS. The binary's subcommands live in
//! `main.rs`; everything they use is here so integration tests can drive it in-process.

pub mod accounts;
pub mod activity;
pub mod api;
pub mod app;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod csv;
pub mod dav;
pub mod db;
pub mod digest;
pub mod doctor;
pub mod error;
pub mod files;
pub mod findings;
pub mod folders;
pub mod http;
pub mod import;
pub mod jobs;
pub mod libraries;
pub mod map;
pub mod media;
pub mod ml;
pub mod moments;
pub mod people;
pub mod pipeline;
pub mod places;
pub mod search;
pub mod serve;
pub mod service;
pub mod sessions;
pub mod shares;
pub mod storage;
pub mod web;
