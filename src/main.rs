//! The `alcoves` command line: serve, migrate, user management and doctor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use alcoves::app::App;
use alcoves::cli::{self, PasswordSource};
use alcoves::config::{Config, SETTINGS};
use alcoves::serve::Mode;

#[derive(Parser)]
#[command(name = "alcoves", version, about = "Self-hosted media library for a home NAS", after_help = settings_help())]
struct Cli {
    /// TOML file with settings (same keys as the table below, lowercase); an installed
    /// package's /etc/alcoves/alcoves.toml when not given and that file exists.
    #[arg(long, global = true, env = "ALCOVES_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the API, the workers or both.
    Serve {
        /// Which parts to run in this process.
        #[arg(long, value_enum, default_value = "all", env = "ALCOVES_MODE")]
        mode: Mode,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check the configuration and every dependency; say what is missing and what falls back.
    Doctor,
    /// Print a configuration file with every setting, commented out at its default.
    Settings {
        /// `key=value` to write uncommented (what a package sets); repeat for several.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the API's OpenAPI document (the web UI's types are generated from it).
    Openapi,
    /// Manage libraries that import a NAS folder in place.
    Library {
        #[command(subcommand)]
        command: LibraryCommand,
    },
    /// Bring photos in from elsewhere.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Install and check the ML model files.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Faces and people.
    People {
        #[command(subcommand)]
        command: PeopleCommand,
    },
    /// Run a processing stage again (hash, metadata, thumbnails, proxy, waveform, faces,
    /// objects, audio_events, transcribe) for one file, one library or every file; running
    /// servers' workers pick the jobs up.
    Reprocess {
        /// The stage to run again.
        kind: String,
        /// Only this library.
        #[arg(long, conflicts_with = "file")]
        library: Option<String>,
        /// Only this file.
        #[arg(long)]
        file: Option<String>,
        /// Show the queued jobs' progress until none is waiting.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
enum LibraryCommand {
    /// Index an existing folder in place (read-only: originals are never modified or moved).
    Bind {
        /// The library's id.
        library: String,
        /// The folder on this machine.
        path: PathBuf,
    },
    /// Stop importing a folder (its files stay listed, unreadable until bound again).
    Unbind {
        /// The library's id.
        library: String,
    },
    /// Scan import folders now: new, changed, moved and deleted files.
    Scan {
        /// Library ids; every bound library when none is given.
        libraries: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import a Google Takeout export: its zip parts or the folder they were extracted to.
    /// Albums become folders, sidecar dates, places and descriptions are kept, and running it
    /// again imports only what is still missing.
    Takeout {
        /// The library's id.
        library: String,
        /// The export's .zip parts and/or extracted folders.
        #[arg(required = true)]
        archives: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Copy the model files listed in models/manifest.toml from DIR (laid out as the manifest's
    /// paths), each checked against its sha256; `--from` again to look in several folders.
    Install {
        #[arg(long, required = true)]
        from: Vec<PathBuf>,
        /// Only the models whose licence lets them be passed on (what the alcoves-models
        /// package holds).
        #[arg(long)]
        redistributable: bool,
    },
    /// Show which models are installed, missing or corrupt.
    List,
}

#[derive(Subcommand)]
enum PeopleCommand {
    /// Group faces into people all over again (names and members' decisions are kept).
    Recluster {
        /// Library ids; every library with face recognition on when none is given.
        libraries: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (the first one becomes the instance owner).
    Create {
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from one line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a new password and sign the user out everywhere.
    ResetPassword {
        username: String,
        /// Read the password from one line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn settings_help() -> String {
    let mut text = String::from("Settings (environment variable, default):\n");
    for s in SETTINGS {
        let default = if s.default.is_empty() {
            "(empty)"
        } else {
            s.default
        };
        text += &format!("  {:<30} {:<22} {}\n", s.env, default, s.doc);
    }
    text
}

fn password_source(stdin: bool) -> PasswordSource {
    if stdin {
        PasswordSource::Stdin
    } else {
        PasswordSource::Prompt
    }
}

/// Runs the commands that read no configuration (so a user who may not read an installed
/// one can still run them); None for every other command.
fn without_config(command: &Command) -> Option<ExitCode> {
    let output = match command {
        Command::Settings { set } => alcoves::config::example_file(set),
        Command::Openapi => serde_json::to_string_pretty(&alcoves::api::openapi::document())
            .map(|doc| doc + "\n")
            .map_err(|e| e.to_string()),
        _ => return None,
    };
    Some(match output {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("alcoves: {e}");
            ExitCode::from(2)
        }
    })
}

fn main() -> ExitCode {
    // Everything the server creates (database, blobs, secrets) is for its own account only.
    // SAFETY: umask only sets this process's file creation mask.
    unsafe { libc::umask(0o077) };
    // Large buffers (decoded pictures, argon2's 19 MiB) come straight from the kernel and go
    // back to it when freed, instead of staying in the allocator's per-thread arenas: a burst of
    // work must not leave the process hundreds of MB larger.
    // And two arenas, not glibc's eight per core: each thread that allocates (the blocking pool,
    // the model runs) would otherwise keep what it freed in an arena of its own. Measured in the
    // pipeline benchmark with the models: 572 MiB peak with the default, 450 MiB with two, no
    // slower.
    // SAFETY: mallopt only tunes glibc's allocator, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    if let Some(code) = without_config(&cli.command) {
        return code;
    }
    let installed = std::path::Path::new(alcoves::service::INSTALLED_CONFIG);
    let file = cli
        .config
        .as_deref()
        .or_else(|| installed.exists().then_some(installed));
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("alcoves: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = alcoves::service::owner::become_data_owner(&config.data_dir) {
        eprintln!("alcoves: {e}");
        return ExitCode::FAILURE;
    }
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alcoves: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("alcoves: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<ExitCode, String> {
    if let Command::Doctor = command {
        let healthy = alcoves::doctor::print(&alcoves::doctor::run(&config).await);
        return Ok(if healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match &command {
        Command::Models {
            command:
                ModelsCommand::Install {
                    from,
                    redistributable,
                },
        } => {
            cli::install_models(&config, from, *redistributable)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Models {
            command: ModelsCommand::List,
        } => {
            let complete = cli::list_models(&config);
            return Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        _ => {}
    }
    let app = App::open(config).await?;
    match command {
        Command::Serve { mode } => alcoves::serve::run(Arc::new(app), mode).await?,
        Command::Migrate => println!(
            "database migrations are up to date ({})",
            app.db.backend().name()
        ),
        Command::User { command } => match command {
            UserCommand::Create {
                username,
                display_name,
                password_stdin,
            } => {
                cli::create_user(
                    &app,
                    &username,
                    display_name.as_deref(),
                    password_source(password_stdin),
                )
                .await?
            }
            UserCommand::List => cli::list_users(&app).await?,
            UserCommand::ResetPassword {
                username,
                password_stdin,
            } => cli::reset_password(&app, &username, password_source(password_stdin)).await?,
        },
        Command::Library { command } => match command {
            LibraryCommand::Bind { library, path } => {
                cli::bind_library(&app, &library, Some(&path)).await?
            }
            LibraryCommand::Unbind { library } => cli::bind_library(&app, &library, None).await?,
            LibraryCommand::Scan { libraries } => cli::scan_libraries(&app, libraries).await?,
        },
        Command::Import {
            command: ImportCommand::Takeout { library, archives },
        } => cli::import_takeout(&app, &library, &archives).await?,
        Command::Reprocess {
            kind,
            library,
            file,
            wait,
        } => cli::reprocess(&app, &kind, library, file, wait).await?,
        Command::People {
            command: PeopleCommand::Recluster { libraries },
        } => cli::recluster(&app, libraries).await?,
        Command::Doctor | Command::Settings { .. } | Command::Openapi | Command::Models { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}
