//! How the binary lives as an installed system service: telling the service manager when it is
//! ready or stopping, and running administrative commands as the account that owns the data.

pub mod notify;
pub mod owner;

/// The configuration file an installed package reads when no `--config` is given.
pub const INSTALLED_CONFIG: &str = "/etc/alcoves/alcoves.toml";
