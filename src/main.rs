//! `pydojo`: the command line. Parsing only; the work is in the library.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Parser, Subcommand};
use pydojo::config::{ExecutorArgs, ServeArgs, StorageArgs};

/// PyDojo: practise Python on judged problems. An event-sourced platform.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(long, env = "PYDOJO_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the platform: the GraphQL API (with GraphiQL at /graphiql) and
    /// the projections. Embedded mode by default: SQLite in --data-dir.
    Serve(ServeArgs),
    /// Judge submissions for API nodes started with `--judge nats`: take jobs
    /// from NATS JetStream, run them in this machine's sandbox, send the
    /// verdicts back. Needs no database. Run as many as you like.
    Executor(ExecutorArgs),
    /// Administer users.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Measure performance; figures go to docs/BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin account. Without --password-stdin a strong password is
    /// generated and printed once.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Event store throughput: concurrent single-event appends, batch appends
    /// and full replay. With --store sqlite (the default) it writes to a fresh
    /// file in --data-dir; with --store postgres, bench streams go into
    /// --database-url (use a scratch database).
    Store {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, default_value_t = 64)]
        callers: usize,
        #[arg(long, default_value_t = 20_000)]
        commands: usize,
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long, default_value_t = 200_000)]
        batch_events: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// A sandbox backend and the judge: a sandboxed `print("hi")` against a
    /// bare python3 start, judgements per second of a 10-test function
    /// problem, and submit-to-verdict latency through the log and the queue.
    Judge {
        /// Scratch directory for the event log it writes.
        #[arg(long, env = "PYDOJO_DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
        #[command(flatten)]
        sandbox: pydojo::config::SandboxArgs,
        #[arg(long, default_value_t = 30)]
        starts: usize,
        #[arg(long, default_value_t = 40)]
        judgements: usize,
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
    },
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pydojo::install_crypto_provider();
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let app = pydojo::App::build(args).await?;
            let addr = app.addr();
            tracing::info!(%addr, "PyDojo is up");
            println!(
                "PyDojo listening on http://{addr}  (GraphQL: POST /graphql, GraphiQL: /graphiql, health: /healthz)"
            );
            app.run_until_stopped().await
        }
        Command::Executor(args) => pydojo::run_executor(args).await,
        Command::Admin {
            command:
                AdminCommand::Create {
                    storage,
                    username,
                    email,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let (id, generated) =
                pydojo::create_admin(&storage, &username, &email, password).await?;
            println!("created admin {username} ({id})");
            if let Some(password) = generated {
                println!("password (shown once, store it now): {password}");
                if !std::io::stdout().is_terminal() {
                    eprintln!("note: the password went to a non-terminal output");
                }
            }
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Store {
                    storage,
                    callers,
                    commands,
                    batch,
                    batch_events,
                    runs,
                },
        } => {
            let store = match storage.store {
                pydojo::config::StoreBackend::Sqlite => {
                    pydojo::ensure_data_dir(&storage.data_dir)?;
                    let durability = match storage.sqlite_durability {
                        pydojo::config::Durability::Full => store::sqlite::Durability::Full,
                        pydojo::config::Durability::Normal => store::sqlite::Durability::Normal,
                    };
                    pydojo::bench::scratch_sqlite(&storage.data_dir, durability).await?
                }
                pydojo::config::StoreBackend::Postgres => pydojo::open_store(&storage).await?,
            };
            pydojo::bench::run(
                store,
                pydojo::bench::StoreBench {
                    callers,
                    commands,
                    batch,
                    batch_events,
                    runs,
                },
            )
            .await
        }
        Command::Bench {
            command:
                BenchCommand::Judge {
                    data_dir,
                    sandbox,
                    starts,
                    judgements,
                    concurrency,
                },
        } => {
            pydojo::ensure_data_dir(&data_dir)?;
            pydojo::bench::judge(
                &data_dir,
                pydojo::bench::JudgeBench {
                    sandbox,
                    starts,
                    judgements,
                    concurrency,
                },
            )
            .await
        }
    }
}
