//! The `ganymede` command line. Parsing and wiring only: the work is done by
//! `ganymede::commands`.

use clap::{Parser, Subcommand};
use ganymede::commands;
use ganymede::filters::grok::{DEFAULT_TIMEOUT_MILLIS, EcsMode, RegexEngine};
use ganymede::observe::logging::{self, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ganymede",
    version,
    about = "Tails, ships, parses and indexes logs: one binary for Filebeat's and Logstash's jobs",
    after_help = "Examples:\n  ganymede run -c pipelines/quickstart.yml --once\n  ganymede run -c /etc/ganymede/pipelines/\n  ganymede check -c pipelines/\n  ganymede test -c pipelines/examples/apache.yml\n  ganymede grok '%{COMBINEDAPACHELOG}' < access.log\n  ganymede dlq list --data-dir /var/lib/ganymede"
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
    /// Run pipelines' unit tests: each case goes through the real filters.
    #[command(
        after_help = "Cases sit under `tests:` in a pipeline file or in NAME.test.yml next to NAME.yml (see docs/testing.md).\nExit status 0 when every test passes, 1 on a failure or an invalid file.\n\nExample:\n  ganymede test -c pipelines/examples/"
    )]
    Test {
        /// Pipeline files or folders (a NAME.test.yml stands for NAME.yml).
        #[arg(short = 'c', long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
    },
    /// Try a grok expression: one JSON line of captured fields (or `null`)
    /// per line of standard input.
    #[command(
        after_help = "Examples:\n  echo '127.0.0.1 - - [27/Nov/2026:08:15:02 +0000] \"GET / HTTP/1.1\" 200 512' | ganymede grok '%{COMMONAPACHELOG}'\n  ganymede grok --ecs disabled --pattern-definition 'ORDER=ORD-\\d+' '%{ORDER:order} %{GREEDYDATA:rest}' < app.log"
    )]
    Grok {
        /// Pattern set: `v1` (ECS field names) or `disabled` (legacy names).
        #[arg(long, default_value = "v1", value_parser = commands::grok::parse_ecs)]
        ecs: EcsMode,
        /// Folder (or file) of `NAME regex` lines; may be repeated.
        #[arg(long = "patterns-dir", value_name = "DIR")]
        patterns_dir: Vec<PathBuf>,
        /// An extra pattern; may be repeated. Wins over the library and files.
        #[arg(long = "pattern-definition", value_name = "NAME=REGEX", value_parser = commands::grok::parse_definition)]
        pattern_definition: Vec<(String, String)>,
        /// `backtracking` lets lookaround and backreferences run, each search
        /// bounded (as the filter's `regex_engine`).
        #[arg(long = "regex-engine", value_name = "ENGINE", default_value = "linear", value_parser = commands::grok::parse_engine)]
        regex_engine: RegexEngine,
        /// Bound of one backtracking search (as the filter's `timeout_millis`).
        #[arg(long = "timeout-millis", value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MILLIS)]
        timeout_millis: u64,
        /// The grok expression, e.g. '%{COMBINEDAPACHELOG}'.
        expression: String,
    },
    /// Inspect dead-letter files and replay their events.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Per dead-letter file: pipeline, output, events, oldest and newest, errors by type.
    List {
        /// Where state is kept (dead letters are under DIR/dead_letter).
        #[arg(long, default_value = "./data", env = "GANYMEDE_DATA_DIR")]
        data_dir: PathBuf,
        /// One JSON object per file instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead-lettered events again through their output; keep in the
    /// file only those still refused.
    #[command(
        after_help = "Exit status 0 when every event sent was delivered or rejected again, 1 otherwise.\n\nExample:\n  ganymede dlq replay -c /etc/ganymede/pipelines/ --data-dir /var/lib/ganymede --pipeline jupiter-aggregator"
    )]
    Replay {
        /// Pipeline files or folders; the output is built from them.
        #[arg(short = 'c', long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
        /// Where state is kept (dead letters are under DIR/dead_letter).
        #[arg(long, default_value = "./data", env = "GANYMEDE_DATA_DIR")]
        data_dir: PathBuf,
        /// Only this pipeline (default: every pipeline given).
        #[arg(long)]
        pipeline: Option<String>,
        /// Only the output with this id (default: every output with dead letters).
        #[arg(long)]
        output: Option<String>,
        /// Longest wait for one file's events; unresolved ones stay in the file.
        #[arg(long, default_value = "5m")]
        timeout: String,
    },
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            None
        }
    }
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
            let Some(runtime) = runtime() else {
                return ExitCode::from(1);
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
        Command::Test { config } => commands::unit_tests::test(
            &config,
            &registry,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
        Command::Grok {
            ecs,
            patterns_dir,
            pattern_definition,
            regex_engine,
            timeout_millis,
            expression,
        } => {
            let opts = commands::grok::GrokOptions {
                expression,
                ecs,
                patterns_dirs: patterns_dir,
                definitions: pattern_definition,
                regex_engine,
                timeout_millis,
            };
            commands::grok::grok(
                &opts,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr(),
            )
        }
        Command::Dlq {
            command: DlqCommand::List { data_dir, json },
        } => commands::dlq::list(
            &data_dir,
            json,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ),
        Command::Dlq {
            command:
                DlqCommand::Replay {
                    config,
                    data_dir,
                    pipeline,
                    output,
                    timeout,
                },
        } => {
            let timeout = match ganymede::config::Span::parse(&timeout) {
                Ok(s) => s.0,
                Err(e) => {
                    eprintln!("error: --timeout: {e}");
                    return ExitCode::from(1);
                }
            };
            let Some(runtime) = runtime() else {
                return ExitCode::from(1);
            };
            let opts = commands::dlq::ReplayOptions {
                paths: config,
                data_dir,
                pipeline,
                output,
                timeout,
            };
            let code = runtime.block_on(commands::dlq::replay(
                &opts,
                &registry,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            ));
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            code
        }
    };
    ExitCode::from(code as u8)
}

// Events are many small allocations made on one thread and freed on
// another; mimalloc handles that pattern about twice as fast as the system
// allocator (benches: a 1 GB file backfill into `null`). Built with
// `no_thp`: with transparent huge pages on (`madvise`, the usual default)
// each 2 MiB region mimalloc touches becomes resident whole, which about
// doubled peak RSS under the Elasticsearch output (benches/elasticsearch.sh:
// 98-105 MB with, 51-56 MB without; same CPU time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
