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
    /// Rebuild read models from the log into shadow storage and swap them in
    /// atomically (safe while `pydojo serve` runs), or with --until build
    /// them as they stood then into a new SQLite file.
    Replay(pydojo::replay::ReplayArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Problem packages (docs/problem-format.md): check them with the real
    /// judge, import them.
    Problems {
        #[command(subcommand)]
        command: ProblemsCommand,
    },
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
    /// Replay through every projection: writes a log of --events events
    /// (a fresh SQLite file in --data-dir, or into --database-url with
    /// --store postgres: use a scratch database), then rebuilds and swaps in
    /// the read models --runs times and prints the median events/s.
    Replay {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
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
    /// Live projection lag: the real app on a scratch data directory (or a
    /// scratch database on the --database-url server), a steady stream of
    /// registrations, submissions and verdicts, and for each append the time
    /// until every projection has applied it.
    Lag {
        #[command(flatten)]
        storage: StorageArgs,
        /// Events appended per second.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Subscription fan-out: the real server on 127.0.0.1:0, N WebSocket
    /// subscribers to leaderboardChanged (in a child process), the delivery
    /// latency of each leaderboard change and the server's memory per idle
    /// connection.
    Fanout {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, default_value_t = 5000)]
        subscribers: usize,
        #[arg(long, default_value_t = 20)]
        updates: usize,
        /// Connections opened at a time.
        #[arg(long, default_value_t = 200)]
        connect_concurrency: usize,
        /// Also select `me` (a read-model query per subscriber per update).
        #[arg(long)]
        with_me: bool,
        /// Messages each live channel holds, as `serve --live-capacity`.
        #[arg(long, default_value_t = 256)]
        live_capacity: usize,
    },
    /// The subscribers of `bench fanout`, run as its child process.
    #[command(hide = true)]
    FanoutClients {
        #[arg(long)]
        url: String,
        /// A file with one token per line, one connection each.
        #[arg(long)]
        tokens: std::path::PathBuf,
        #[arg(long, default_value_t = 200)]
        connect_concurrency: usize,
        #[arg(long)]
        with_me: bool,
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
            let seeded = if args.demo {
                pydojo::ensure_data_dir(&args.storage.data_dir)?;
                pydojo::demo::seed(&args.storage, &args.demo_problems).await?
            } else {
                None
            };
            let demo = args.demo;
            let app = pydojo::App::build(args).await?;
            let addr = app.addr();
            tracing::info!(%addr, "PyDojo is up");
            println!(
                "PyDojo listening on http://{addr}  (GraphQL: POST /graphql, GraphiQL: /graphiql, health: /healthz)"
            );
            match seeded {
                Some(seeded) => {
                    println!(
                        "Demo: {} problems imported. These passwords are shown only now:",
                        seeded.problems
                    );
                    for (name, role, password) in &seeded.accounts {
                        println!("  {name:<6} ({role:?})  {password}");
                    }
                    println!(
                        "Open http://{addr}/graphiql and run: mutation {{ login(login: \"alice\", password: \"…\") {{ token }} }}"
                    );
                }
                None if demo => {
                    println!("Demo: this data directory already has events; nothing was added.")
                }
                None => {}
            }
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
        Command::Replay(args) => pydojo::replay::run(args).await,
        Command::Bench {
            command:
                BenchCommand::Replay {
                    storage,
                    events,
                    runs,
                },
        } => {
            let (store, live) = match storage.store {
                pydojo::config::StoreBackend::Sqlite => {
                    pydojo::ensure_data_dir(&storage.data_dir)?;
                    let store = pydojo::bench::scratch_sqlite(
                        &storage.data_dir,
                        store::sqlite::Durability::Normal,
                    )
                    .await?;
                    let read = storage
                        .data_dir
                        .join(format!("bench-read-{}.db", uuid::Uuid::now_v7().simple()));
                    (store, projections::replay::ReadLocation::Sqlite(read))
                }
                pydojo::config::StoreBackend::Postgres => (
                    pydojo::open_store(&storage).await?,
                    pydojo::replay::read_location(&storage)?,
                ),
            };
            pydojo::replay::bench(store, live, pydojo::replay::ReplayBench { events, runs }).await
        }
        Command::Problems { command } => problems(command).await,
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
        Command::Bench {
            command:
                BenchCommand::Lag {
                    storage,
                    rate,
                    seconds,
                },
        } => pydojo::bench_live::lag(storage, pydojo::bench_live::LagBench { rate, seconds }).await,
        Command::Bench {
            command:
                BenchCommand::Fanout {
                    storage,
                    subscribers,
                    updates,
                    connect_concurrency,
                    with_me,
                    live_capacity,
                },
        } => {
            pydojo::bench_live::fanout(
                storage,
                pydojo::bench_live::FanoutBench {
                    subscribers,
                    updates,
                    connect_concurrency,
                    with_me,
                    live_capacity,
                },
            )
            .await
        }
        Command::Bench {
            command:
                BenchCommand::FanoutClients {
                    url,
                    tokens,
                    connect_concurrency,
                    with_me,
                },
        } => {
            pydojo::bench_live::fanout_clients(pydojo::bench_live::FanoutClients {
                url,
                tokens,
                connect_concurrency,
                with_me,
            })
            .await
        }
    }
}

#[derive(Debug, Subcommand)]
enum ProblemsCommand {
    /// Judge each package's reference solution (it must pass every test within
    /// the limits) and its known-wrong solutions (each must get the verdict it
    /// declares). DIR is a package or a directory of packages.
    Validate {
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
        #[command(flatten)]
        sandbox: pydojo::config::SandboxArgs,
    },
    /// Validate, then create or update and publish each problem. Nothing is
    /// imported unless every package validates.
    Import {
        #[arg(required = true)]
        dirs: Vec<std::path::PathBuf>,
        /// The admin the problems are created by.
        #[arg(long, env = "PYDOJO_ADMIN")]
        admin: String,
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        sandbox: pydojo::config::SandboxArgs,
    },
    /// Write a problem as it stands now as a package in DIR. The platform
    /// keeps no reference solution, wrong solutions or hints: add
    /// solution.py before validating the package again.
    Export {
        slug: String,
        dir: std::path::PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

async fn problems(command: ProblemsCommand) -> anyhow::Result<()> {
    use pydojo::problems;
    let (dirs, sandbox_args) = match &command {
        ProblemsCommand::Validate { dirs, sandbox } => (dirs, sandbox),
        ProblemsCommand::Import { dirs, sandbox, .. } => (dirs, sandbox),
        ProblemsCommand::Export { slug, dir, storage } => {
            let store = pydojo::open_store(storage).await?;
            let commands = commands::Commands::new(store, commands::Passwords::new());
            let problem = commands
                .problem_by_slug(slug)
                .await?
                .with_context(|| format!("no problem {slug:?}"))?;
            let written = problems::export(slug, &problem.spec, dir)?;
            println!(
                "{slug} (version {}) written to {}: {} files. Add solution.py (and any wrong/ solutions and hints) before `pydojo problems validate`.",
                problem.version,
                dir.display(),
                written.len()
            );
            return Ok(());
        }
    };
    let (packages, mut errors) = problems::load_all(dirs);
    let sandbox = pydojo::sandbox(sandbox_args).await?;
    let judge = executor::Judge::new(sandbox);
    errors.extend(problems::validate_all(&packages, &judge).await);
    if !errors.is_empty() {
        eprintln!("\n{} package problem(s):", errors.len());
        for e in &errors {
            eprintln!("  {e}");
        }
        anyhow::bail!("{} package problem(s); nothing was imported", errors.len());
    }
    println!("{} package(s) valid", packages.len());
    let ProblemsCommand::Import { admin, storage, .. } = command else {
        return Ok(());
    };
    let store = pydojo::open_store(&storage).await?;
    let commands = commands::Commands::new(store, commands::Passwords::new());
    let actor = commands
        .admin_actor(&admin)
        .await
        .with_context(|| format!("cannot import as {admin:?}"))?;
    for package in &packages {
        let outcome = problems::import(&commands, &actor, package)
            .await
            .with_context(|| format!("importing {}", package.slug))?;
        println!("{}: {outcome:?}", package.slug);
    }
    Ok(())
}
