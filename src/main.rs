//! The `ganymede` command line. Parsing and wiring only: the work is done by
//! `ganymede::commands`.

use clap::{Parser, Subcommand};
use ganymede::commands;
use ganymede::observe::logging::{self, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ganymede",
    version,
    about = "Tails, ships, parses and indexes logs: one binary for Filebeat's and Logstash's jobs",
    after_help = "Examples:\n  ganymede run -c pipelines/quickstart.yml --once\n  ganymede run -c /etc/ganymede/pipelines/\n  ganymede check -c pipelines/"
)]
struct Cli {
    /// Log format of ganymede's own logs on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "json",
        env = "GANYMEDE_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Log level, or a filter such as `info,ganymede::outputs=debug`.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "GANYMEDE_LOG_LEVEL"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run pipelines until their sources end or SIGINT/SIGTERM.
    #[command(
        after_help = "Examples:\n  ganymede run -c pipelines/quickstart.yml --once\n  ganymede run -c /etc/ganymede/pipelines/ --http 0.0.0.0:9600"
    )]
    Run {
        /// Pipeline files or folders of them (each *.yml / *.yaml is one pipeline).
        #[arg(short = 'c', long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
        /// Where state is kept (file registries, dead letters).
        #[arg(long, default_value = "./data", env = "GANYMEDE_DATA_DIR")]
        data_dir: PathBuf,
        /// Read every source to its end, deliver, commit, and exit.
        #[arg(long)]
        once: bool,
        /// Address of /metrics, /health and /ready, or `off`.
        #[arg(long, default_value = "127.0.0.1:9600", env = "GANYMEDE_HTTP")]
        http: String,
        /// Longest wait, after a stop signal, for in-flight events (e.g. 30s).
        #[arg(long, default_value = "30s")]
        shutdown_timeout: String,
    },
    /// Load, validate and compile pipelines without running them.
    #[command(
        after_help = "Exit status 0 when every pipeline is valid, 1 otherwise (every error listed)."
    )]
    Check {
        #[arg(short = 'c', long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let registry = ganymede::registry::standard();
    let code = match cli.command {
        Command::Check { config } => commands::check::check(
            &config,
            &registry,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
        Command::Run {
            config,
            data_dir,
            once,
            http,
            shutdown_timeout,
        } => {
            let http = match http.as_str() {
                "off" | "none" | "" => None,
                a => match a.parse::<SocketAddr>() {
                    Ok(a) => Some(a),
                    Err(e) => {
                        eprintln!("error: --http {a}: {e} (expected HOST:PORT or `off`)");
                        return ExitCode::from(1);
                    }
                },
            };
            let shutdown_timeout = match ganymede::config::Span::parse(&shutdown_timeout) {
                Ok(s) => s.0,
                Err(e) => {
                    eprintln!("error: --shutdown-timeout: {e}");
                    return ExitCode::from(1);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let opts = commands::run::RunOptions {
                paths: config,
                data_dir,
                once,
                http,
                shutdown_timeout,
            };
            let end = runtime.block_on(commands::run::run(opts, &registry));
            // Do not wait for tasks still retrying after a deadline.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            end.exit_code()
        }
    };
    ExitCode::from(code as u8)
}
