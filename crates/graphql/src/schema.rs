//! The query and mutation roots.

use async_graphql::{
    Context, ErrorExtensions as _, ID, MergedObject, MergedSubscription, Object, Schema,
};
use commands::Actor;
use domain::{SubmissionId, UserId};
use projections::queries::{self, ProblemFilter};

use crate::context::{PackageImportError, Services, request, services};
use crate::error::{Code, api_error, from_command, from_read};
use crate::forum::{ForumMutation, ForumQuery, ForumSubscription};
use crate::rejudge::{RejudgeMutation, RejudgeQuery, RejudgeSubscription};
use crate::stats::{self, Analytics, LeaderboardPage, ProblemStats, Profile, RankingPage};
use crate::subscription::CoreSubscription;
use crate::tutor::{TutorMutation, TutorQuery, TutorSubscription};
use crate::types::*;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

// The query root: one object per feature, merged. A feature adds its own
// `#[Object]` in its module and a member here. (Plain comments: doc comments
// would become descriptions in the published schema.)
#[derive(MergedObject, Default, Debug)]
pub struct Query(CoreQuery, RejudgeQuery, ForumQuery, TutorQuery);

// The mutation root, merged like `Query`.
#[derive(MergedObject, Default, Debug)]
pub struct Mutation(CoreMutation, RejudgeMutation, ForumMutation, TutorMutation);

// The subscription root, merged like `Query`.
#[derive(MergedSubscription, Default, Debug)]
pub struct Subscription(
    CoreSubscription,
    RejudgeSubscription,
    ForumSubscription,
    TutorSubscription,
);

/// Limits that keep one query from costing the server too much.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 2000;
const MAX_PAGE: i32 = 100;
/// The most files an uploaded problem package may hold.
pub const MAX_PACKAGE_FILES: usize = 64;

pub fn build(services: Option<Services>) -> AppSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(32)
    .limit_directives(20)
    .extension(crate::codes::ClientErrorCodes);
    match services {
        Some(s) => builder.data(s).finish(),
        None => builder.finish(),
    }
}

pub(crate) fn page(limit: i32, offset: i32) -> async_graphql::Result<(i64, i64)> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(api_error(
            Code::BadUserInput,
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    if offset < 0 {
        return Err(api_error(Code::BadUserInput, "offset must not be negative"));
    }
    Ok((limit as i64, offset as i64))
}

async fn load_user(s: &Services, id: UserId) -> async_graphql::Result<User> {
    queries::user_by_id(&s.db, id)
        .await
        .map_err(from_read)?
        .map(User::from)
        .ok_or_else(|| api_error(Code::NotFound, "user not found"))
}

async fn load_problem(
    db: &projections::ReadDb,
    slug: &str,
    include_unpublished: bool,
) -> async_graphql::Result<Problem> {
    problem_view(db, slug, include_unpublished)
        .await
        .map(Problem::from)
}

/// The problem `slug` (unpublished ones too when asked); NOT_FOUND else.
pub(crate) async fn problem_view(
    db: &projections::ReadDb,
    slug: &str,
    include_unpublished: bool,
) -> async_graphql::Result<queries::ProblemView> {
    queries::problem_by_slug(db, slug, include_unpublished)
        .await
        .map_err(from_read)?
        .ok_or_else(|| api_error(Code::NotFound, "problem not found"))
}

pub(crate) fn parse_id<T: std::str::FromStr>(id: &ID, what: &str) -> async_graphql::Result<T> {
    id.parse()
        .map_err(|_| api_error(Code::BadUserInput, format!("{what} id is not a valid id")))
}

#[derive(Debug, Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// The logged-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let actor = request(ctx).actor()?;
        load_user(services(ctx), actor.user_id).await
    }

    /// A user's public profile.
    async fn user(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> async_graphql::Result<Option<User>> {
        Ok(queries::user_by_username(&services(ctx).db, &username)
            .await
            .map_err(from_read)?
            .map(User::from))
    }

    /// Admins only: every user.
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<Vec<User>> {
        request(ctx).admin()?;
        let (limit, offset) = page(limit, offset)?;
        let users = queries::list_users(&services(ctx).db, limit, offset)
            .await
            .map_err(from_read)?;
        Ok(users.into_iter().map(User::from).collect())
    }

    /// Published problems; admins may ask for drafts and archived ones too.
    async fn problems(
        &self,
        ctx: &Context<'_>,
        difficulty: Option<Difficulty>,
        tag: Option<String>,
        #[graphql(default = false)] include_unpublished: bool,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<Vec<Problem>> {
        if include_unpublished {
            request(ctx).admin()?;
        }
        let (limit, offset) = page(limit, offset)?;
        let filter = ProblemFilter {
            include_unpublished,
            difficulty: difficulty.map(Into::into),
            tag,
        };
        let problems = queries::list_problems(&services(ctx).db, &filter, limit, offset)
            .await
            .map_err(from_read)?;
        Ok(problems.into_iter().map(Problem::from).collect())
    }

    /// One problem by slug: null if there is none the caller may see.
    async fn problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Option<Problem>> {
        let is_admin = request(ctx)
            .actor
            .is_some_and(|a| a.role == domain::user::Role::Admin);
        let view = queries::problem_by_slug(&services(ctx).db, &slug, is_admin)
            .await
            .map_err(from_read)?;
        Ok(view.map(Problem::from))
    }

    /// One of the caller's submissions (admins: anyone's).
    async fn submission(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Submission>> {
        let actor = request(ctx).actor()?;
        let id: SubmissionId = parse_id(&id, "submission")?;
        let Some(view) = queries::submission_by_id(&services(ctx).db, id)
            .await
            .map_err(from_read)?
        else {
            return Ok(None);
        };
        if view.user_id != actor.user_id && actor.role != domain::user::Role::Admin {
            return Ok(None);
        }
        Submission::try_from(view).map(Some)
    }

    /// The caller's submissions, newest first.
    async fn my_submissions(
        &self,
        ctx: &Context<'_>,
        problem_slug: Option<String>,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<Vec<Submission>> {
        let actor = request(ctx).actor()?;
        let (limit, offset) = page(limit, offset)?;
        let views = queries::submissions_of(
            &services(ctx).db,
            actor.user_id,
            problem_slug.as_deref(),
            limit,
            offset,
        )
        .await
        .map_err(from_read)?;
        views.into_iter().map(Submission::try_from).collect()
    }

    /// The global leaderboard: problems solved weighted by difficulty (easy
    /// 1, medium 2, hard 3), ties to whoever reached the score first. Pages
    /// of `first` entries (at most 100) after the cursor `after`. `asOf`
    /// (admins only): the leaderboard as it stood then, replayed from the log.
    async fn leaderboard(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<LeaderboardPage> {
        let first = stats::first(first)?;
        let (db, _) = stats::read_model(ctx, as_of).await?;
        let page = projections::leaderboard::leaderboard(&db, first, after.as_deref())
            .await
            .map_err(from_read)?
            .map_err(stats::bad_cursor)?;
        Ok(page.into())
    }

    /// A problem's ranking: each user's best accepted submission, by runtime,
    /// then memory, then submission time. NOT_FOUND for a problem the caller
    /// may not see. `asOf` (admins only): the ranking as it stood then.
    async fn problem_ranking(
        &self,
        ctx: &Context<'_>,
        slug: String,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<RankingPage> {
        let first = stats::first(first)?;
        let (db, _) = stats::read_model(ctx, as_of).await?;
        let problem = load_problem(&db, &slug, is_admin(ctx)).await?;
        let page =
            projections::ranking::problem_ranking(&db, problem.problem_id, first, after.as_deref())
                .await
                .map_err(from_read)?
                .map_err(stats::bad_cursor)?;
        Ok(page.into())
    }

    /// A user's progress: solved by difficulty, rank, acceptance, streaks,
    /// activity per day and recent submissions. NOT_FOUND for no such user.
    /// `asOf` (admins only): the profile as it stood then (streaks and the
    /// default activity range end on that day).
    async fn profile(
        &self,
        ctx: &Context<'_>,
        username: String,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<Profile> {
        let (db, now) = stats::read_model(ctx, as_of).await?;
        let user = queries::user_by_username(&db, &username)
            .await
            .map_err(from_read)?
            .ok_or_else(|| api_error(Code::NotFound, "user not found"))?;
        Profile::load(db, now, user.user_id, user.username).await
    }

    /// A problem's attempts, acceptance, verdict mix, and the runtime and
    /// memory distributions of its accepted submissions (histograms of at
    /// most `buckets` bars, 1 to 50). NOT_FOUND for a problem the caller may
    /// not see. `asOf` (admins only): the statistics as they stood then.
    async fn problem_stats(
        &self,
        ctx: &Context<'_>,
        slug: String,
        #[graphql(default = 10)] buckets: i32,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<ProblemStats> {
        let buckets = stats::buckets(buckets)?;
        let (db, _) = stats::read_model(ctx, as_of).await?;
        let problem = load_problem(&db, &slug, is_admin(ctx)).await?;
        let counts = projections::problem_stats::counts(&db, problem.problem_id)
            .await
            .map_err(from_read)?;
        let (runtime, memory) = projections::ranking::distributions(&db, problem.problem_id)
            .await
            .map_err(from_read)?;
        Ok(ProblemStats {
            slug: problem.slug,
            submissions: counts.submissions,
            judged: counts.judged,
            accepted: counts.accepted,
            acceptance_rate: counts.acceptance_rate(),
            attempters: counts.attempters,
            solvers: counts.solvers,
            verdict_mix: stats::verdict_mix(counts.verdicts),
            runtime_ms: stats::DistributionStats::new(&runtime, buckets),
            memory_kb: stats::DistributionStats::new(&memory, buckets),
        })
    }

    /// Admins only: activity per UTC day from `from` to `to` (default: the
    /// 30 days that end today, or on the `asOf` day; at most 366), the
    /// verdict mix, playground use, and every problem's time and memory
    /// statistics. `asOf`: all of it as it stood then, replayed from the log
    /// (a replay up to that moment unless a recent `asOf` query cached it).
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        #[graphql(default = 10)] buckets: i32,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> async_graphql::Result<Analytics> {
        request(ctx).admin()?;
        let buckets = stats::buckets(buckets)?;
        let today = as_of.unwrap_or_else(chrono::Utc::now).date_naive();
        let (from, to) = stats::date_range(from, to, 30, today)?;
        let (db, _) = stats::read_model(ctx, as_of).await?;
        Analytics::load(&db, from, to, buckets).await
    }
}

fn is_admin(ctx: &Context<'_>) -> bool {
    request(ctx)
        .actor
        .is_some_and(|a| a.role == domain::user::Role::Admin)
}

#[derive(Debug, Default)]
pub struct CoreMutation;

impl CoreMutation {
    async fn session(
        s: &Services,
        user_id: UserId,
        epoch: u32,
    ) -> async_graphql::Result<AuthPayload> {
        let (token, expires_at) = s.keys.issue(user_id, epoch);
        let mut user = load_user(s, user_id).await?;
        user.reveal_email = true;
        Ok(AuthPayload {
            token,
            expires_at,
            user,
        })
    }
}

#[Object]
impl CoreMutation {
    /// Creates an account and logs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        username: String,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let s = services(ctx);
        s.limiters.check_auth(request(ctx).client_ip)?;
        let done = s
            .commands
            .register(&username, &email, &password, domain::user::Role::User)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        Self::session(s, done.value, 0).await
    }

    /// `login` is a username or an email address.
    async fn login(
        &self,
        ctx: &Context<'_>,
        login: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let s = services(ctx);
        s.limiters.check_auth(request(ctx).client_ip)?;
        let done = s
            .commands
            .authenticate(&login, &password)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        Self::session(s, done.value.id, done.value.session_epoch).await
    }

    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        display_name: Option<String>,
        bio: Option<String>,
    ) -> async_graphql::Result<User> {
        let s = services(ctx);
        let actor = request(ctx).actor()?;
        let current = load_user(s, actor.user_id).await?;
        let done = s
            .commands
            .update_profile(
                actor,
                &display_name.unwrap_or(current.display_name),
                &bio.unwrap_or(current.bio),
            )
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_user(s, actor.user_id).await
    }

    /// Ends every other session and returns a new token for this one.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let s = services(ctx);
        let actor = request(ctx).actor()?;
        s.limiters.check_auth(request(ctx).client_ip)?;
        let done = s
            .commands
            .change_password(actor, &current_password, &new_password)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        let user = queries::user_by_id(&s.db, actor.user_id)
            .await
            .map_err(from_read)?;
        let epoch = user.map_or(0, |u| u.session_epoch);
        Self::session(s, actor.user_id, epoch).await
    }

    /// Admins only. The user can no longer log in; their tokens stop working.
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        username: String,
        #[graphql(default)] reason: String,
    ) -> async_graphql::Result<User> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .deactivate_user(actor, &username, &reason)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_user(s, done.value).await
    }

    /// Admins only.
    async fn reactivate_user(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> async_graphql::Result<User> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .reactivate_user(actor, &username)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_user(s, done.value).await
    }

    /// Admins only.
    async fn set_user_role(
        &self,
        ctx: &Context<'_>,
        username: String,
        role: Role,
    ) -> async_graphql::Result<User> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .set_role(actor, &username, role.into())
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_user(s, done.value).await
    }

    /// Admins only. Creates a draft.
    async fn create_problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: ProblemInput,
    ) -> async_graphql::Result<Problem> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .create_problem(actor, &slug, input.into_spec()?)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_problem(&s.db, &slug, true).await
    }

    /// Admins only. Replaces the problem's content and bumps its version.
    async fn update_problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: ProblemInput,
    ) -> async_graphql::Result<Problem> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .edit_problem(actor, &slug, input.into_spec()?)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_problem(&s.db, &slug, true).await
    }

    /// Admins only.
    async fn publish_problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Problem> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .publish_problem(actor, &slug)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_problem(&s.db, &slug, true).await
    }

    /// Admins only. Hides the problem from users; it can be published again.
    async fn archive_problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Problem> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let done = s
            .commands
            .archive_problem(actor, &slug)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        load_problem(&s.db, &slug, true).await
    }

    /// Submits Python code (UTF-8, at most 64 KiB) to a published problem.
    async fn submit(
        &self,
        ctx: &Context<'_>,
        problem_slug: String,
        code: String,
    ) -> async_graphql::Result<Submission> {
        let s = services(ctx);
        let actor: &Actor = request(ctx).actor()?;
        s.limiters.check_submit(actor.user_id)?;
        let done = s
            .commands
            .submit(actor, &problem_slug, &code)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        let view = queries::submission_by_id(&s.db, done.value)
            .await
            .map_err(from_read)?
            .ok_or_else(|| api_error(Code::Internal, "submission recorded but not found"))?;
        Submission::try_from(view)
    }

    /// Admins only. Uploads a problem package (docs/problem-format.md) as its
    /// files: it is loaded with the checks of `pydojo problems import`, its
    /// reference and known-wrong solutions are judged, and only then is the
    /// problem created and published, or edited (a new version). A broken
    /// package is BAD_USER_INPUT with `file:line:column: message` and
    /// `field` set to the file; nothing is imported then.
    async fn import_problem_package(
        &self,
        ctx: &Context<'_>,
        files: Vec<PackageFileInput>,
    ) -> async_graphql::Result<ProblemPackageImport> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        if files.len() > MAX_PACKAGE_FILES {
            return Err(api_error(
                Code::BadUserInput,
                format!(
                    "a package holds at most {MAX_PACKAGE_FILES} files; this upload has {}",
                    files.len()
                ),
            )
            .extend_with(|_, e| e.set("field", "files")));
        }
        let files = files.into_iter().map(|f| (f.path, f.content)).collect();
        import_package(s, actor, files).await
    }

    /// Admins only. `importProblemPackage` for a package uploaded as a zip
    /// archive in a multipart request (the GraphQL multipart request spec:
    /// `operations`, `map` and the file). The package may sit at the top of
    /// the archive or in one folder. An entry that would land outside the
    /// package, a link, a file that is not UTF-8 text, more than 64 files or
    /// more than 16 MiB inflated is BAD_USER_INPUT naming the entry.
    async fn import_problem_package_zip(
        &self,
        ctx: &Context<'_>,
        file: async_graphql::Upload,
    ) -> async_graphql::Result<ProblemPackageImport> {
        let s = services(ctx);
        let actor = request(ctx).admin()?;
        let mut bytes = Vec::new();
        {
            use std::io::Read as _;
            file.value(ctx)
                .map_err(|e| api_error(Code::BadUserInput, format!("cannot read the upload: {e}")))?
                .into_read()
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    api_error(Code::BadUserInput, format!("cannot read the upload: {e}"))
                })?;
        }
        let files = crate::package_zip::unzip(&bytes).map_err(|e| {
            api_error(Code::BadUserInput, format!("{}: {}", e.file, e.message))
                .extend_with(move |_, x| x.set("field", e.file.as_str()))
        })?;
        import_package(s, actor, files).await
    }

    /// Runs a snippet on your own input in the sandbox (the playground).
    /// Limits: 10 s wall, 128 MB, 1 MB of output by default.
    async fn run(
        &self,
        ctx: &Context<'_>,
        code: String,
        #[graphql(default)] stdin: String,
    ) -> async_graphql::Result<RunResult> {
        let s = services(ctx);
        let actor = request(ctx).actor()?;
        domain::playground::validate_snippet(&code, &stdin)
            .map_err(|e| crate::error::from_domain(&e))?;
        s.limiters.check_playground(actor.user_id)?;
        let Some(runner) = &s.playground else {
            return Err(api_error(
                Code::Internal,
                "the playground is not available on this server",
            ));
        };
        let (code_bytes, stdin_bytes) = (code.len() as u32, stdin.len() as u32);
        let report = runner
            .run(code, stdin)
            .await
            .map_err(|e| crate::error::internal("playground run failed", &e))?;
        let event = domain::playground::PlaygroundEvent::PlaygroundRunCompleted {
            user_id: actor.user_id,
            code_bytes,
            stdin_bytes,
            exit_code: report.exit_code,
            signal: report.signal,
            cpu_ms: report.cpu_ms,
            wall_ms: report.wall_ms,
            memory_kb: report.memory_kb,
            limit_hit: report.limit_hit.clone(),
            at: chrono::Utc::now(),
        };
        if let Err(e) = s.commands.record_playground_run(actor, event).await {
            // The user got their output; losing the usage record is ours to log.
            tracing::error!(error = %e, "could not record a playground run");
        }
        Ok(RunResult {
            stdout: report.stdout,
            stderr: report.stderr,
            stdout_truncated: report.stdout_truncated,
            stderr_truncated: report.stderr_truncated,
            exit_code: report.exit_code,
            signal: report.signal,
            cpu_ms: report.cpu_ms,
            wall_ms: report.wall_ms,
            memory_kb: report.memory_kb,
            limit_hit: report.limit_hit.as_deref().and_then(LimitHit::parse),
        })
    }
}

/// Judges and imports a package's files (`importProblemPackage` and its zip
/// variant).
async fn import_package(
    s: &Services,
    actor: &Actor,
    files: Vec<(String, String)>,
) -> async_graphql::Result<ProblemPackageImport> {
    let Some(importer) = &s.packages else {
        return Err(api_error(
            Code::Internal,
            "packages cannot be imported here: this server has no sandbox to validate them in",
        ));
    };
    let report = importer.import(*actor, files).await.map_err(|e| match e {
        PackageImportError::Invalid { file, message } => api_error(Code::BadUserInput, message)
            .extend_with(move |_, x| x.set("field", file.as_str())),
        PackageImportError::Command(e) => from_command(e),
    })?;
    if let Some(cursor) = report.cursor {
        s.settle(cursor).await?;
    }
    Ok(ProblemPackageImport {
        problem: load_problem(&s.db, &report.slug, true).await?,
        slug: report.slug,
        outcome: report.outcome,
        version: report.version,
        tests: u32::try_from(report.tests).unwrap_or(u32::MAX),
        reference_runtime_ms: report.reference_runtime_ms,
        reference_memory_kb: report.reference_memory_kb,
        wrong_solutions: report
            .wrong
            .into_iter()
            .map(|(file, kind)| WrongSolutionCheck {
                file,
                verdict: kind.into(),
            })
            .collect(),
    })
}
