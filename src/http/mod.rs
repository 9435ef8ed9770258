//! The HTTP side: route table, access check, request context, responses and the server loop.

pub mod access;
pub mod error;
pub mod origin;
pub mod range;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;
