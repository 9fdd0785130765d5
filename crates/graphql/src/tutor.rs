//! The AI tutor's API: `askTutor` records a question and starts the answer
//! in the background; `tutorReply` streams it token by token and ends with
//! the recorded reply (or a coded error); `tutorConversation` lists a
//! conversation; `tutorUsage` (admins) shows use per day, user and problem.
//!
//! The tokens of a reply being written travel through [`TutorHub`]. With a
//! [`TutorRelay`] (NATS, when several API nodes run) the hub also tells the
//! other nodes, and feeds the pieces they relay to its own subscribers, so
//! any node can stream any reply; the recorded reply always comes through
//! the log. Whatever the mode (a model or the offline engine) the API is the
//! same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::{Context, Enum, ErrorExtensions as _, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, NaiveDate, Utc};
use commands::{Actor, AskTutor, Asked, Commands, TutorAnswer, TutorFailure, TutorOutcome};
use domain::Event;
use domain::tutor::{MessageId, TutorEvent};
use domain::user::Role;
use futures::{FutureExt as _, Stream, StreamExt};
use projections::queries;
use projections::tutor::{MessageStatus, MessageView};
use tokio::sync::broadcast;

use crate::context::{Services, TutorRelay, TutorSignal, request, services};
use crate::error::{Code, api_error, from_command, from_read, internal};
use crate::live::{self, Heard};
use crate::schema::{parse_id, problem_view};
use crate::subscription::{UpdateReason, until_expired};

/// Tokens buffered per subscriber of a reply; one further behind is resynced
/// with the text so far.
const TOKEN_CAPACITY: usize = 1024;
/// Flight starts buffered per subscriber waiting for its reply to start.
const START_CAPACITY: usize = 64;
/// A reply relayed from another node and silent this long is dropped (its
/// node died or its finish was lost); its subscribers wait for the log.
const REMOTE_SILENCE: Duration = Duration::from_secs(120);
/// Replies relayed from other nodes held at once; the stalest makes room.
const REMOTE_FLIGHTS: usize = 256;
/// Text held per relayed reply; a longer one is dropped.
const REMOTE_TEXT_BYTES: usize = 256 * 1024;

/// Replies being written: the text so far and a channel of the pieces that
/// follow, for those written here and those other nodes relay.
#[derive(Debug, Clone)]
pub struct TutorHub {
    flights: Arc<Mutex<HashMap<MessageId, Flight>>>,
    /// Each flight as it starts, for subscribers that came before it.
    starts: broadcast::Sender<MessageId>,
    relay: Option<Arc<dyn TutorRelay>>,
}

#[derive(Debug)]
struct Flight {
    text: String,
    pieces: broadcast::Sender<String>,
    /// When another node last told of it; `None` for a reply written here.
    heard: Option<Instant>,
}

impl Default for TutorHub {
    fn default() -> Self {
        Self {
            flights: Arc::default(),
            starts: broadcast::channel(START_CAPACITY).0,
            relay: None,
        }
    }
}

impl TutorHub {
    /// A hub that tells other nodes of the replies written here.
    pub fn relayed(relay: Arc<dyn TutorRelay>) -> Self {
        Self {
            relay: Some(relay),
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Flight>> {
        self.flights.lock().expect("never poisoned")
    }

    fn insert(
        &self,
        flights: &mut HashMap<MessageId, Flight>,
        id: MessageId,
        heard: Option<Instant>,
    ) {
        flights.insert(
            id,
            Flight {
                text: String::new(),
                pieces: broadcast::channel(TOKEN_CAPACITY).0,
                heard,
            },
        );
        let _ = self.starts.send(id);
    }

    fn relay(&self, id: MessageId, signal: &TutorSignal) {
        if let Some(relay) = &self.relay {
            relay.send(id, signal);
        }
    }

    fn start(&self, id: MessageId) {
        self.insert(&mut self.lock(), id, None);
        self.relay(id, &TutorSignal::Started);
    }

    fn push(&self, id: MessageId, piece: &str) {
        let here = match self.lock().get_mut(&id) {
            Some(f) => {
                f.text.push_str(piece);
                let _ = f.pieces.send(piece.to_string());
                true
            }
            None => false,
        };
        if here {
            self.relay(id, &TutorSignal::Piece(piece.to_string()));
        }
    }

    /// Ends a flight; its subscribers' channels close.
    fn finish(&self, id: MessageId) {
        self.lock().remove(&id);
        self.relay(id, &TutorSignal::Finished);
    }

    /// What another node relayed about a reply it is writing. A piece of a
    /// reply not heard of yet (its start was missed) starts it.
    pub fn hear(&self, id: MessageId, signal: TutorSignal) {
        self.hear_at(id, signal, Instant::now());
    }

    fn hear_at(&self, id: MessageId, signal: TutorSignal, now: Instant) {
        let mut flights = self.lock();
        forget_silent(&mut flights, now);
        match flights.get(&id).map(|f| f.heard.is_some()) {
            // Written here: nobody else speaks for it.
            Some(false) => return,
            Some(true) => {}
            None if signal == TutorSignal::Finished => return,
            None => {
                make_room(&mut flights);
                self.insert(&mut flights, id, Some(now));
            }
        }
        let Some(f) = flights.get_mut(&id) else {
            return;
        };
        f.heard = Some(now);
        match signal {
            TutorSignal::Started => {}
            TutorSignal::Piece(piece) if f.text.len() + piece.len() > REMOTE_TEXT_BYTES => {
                flights.remove(&id);
            }
            TutorSignal::Piece(piece) => {
                f.text.push_str(&piece);
                let _ = f.pieces.send(piece);
            }
            TutorSignal::Finished => {
                flights.remove(&id);
            }
        }
    }

    /// Drops relayed replies silent for too long.
    pub fn forget_silent(&self) {
        forget_silent(&mut self.lock(), Instant::now());
    }

    /// The text so far and the pieces after it, if the reply is being
    /// written (here or, relayed, on another node).
    fn join(&self, id: MessageId) -> Option<(String, broadcast::Receiver<String>)> {
        self.lock()
            .get(&id)
            .map(|f| (f.text.clone(), f.pieces.subscribe()))
    }

    /// The ids of flights that start from now on.
    fn starts(&self) -> broadcast::Receiver<MessageId> {
        self.starts.subscribe()
    }
}

fn forget_silent(flights: &mut HashMap<MessageId, Flight>, now: Instant) {
    flights.retain(|_, f| {
        f.heard
            .is_none_or(|heard| now.saturating_duration_since(heard) < REMOTE_SILENCE)
    });
}

/// Drops the stalest relayed flight if there are as many as allowed.
fn make_room(flights: &mut HashMap<MessageId, Flight>) {
    let relayed = flights.values().filter(|f| f.heard.is_some()).count();
    if relayed < REMOTE_FLIGHTS {
        return;
    }
    let stalest = flights
        .iter()
        .filter_map(|(id, f)| f.heard.map(|heard| (heard, *id)))
        .min()
        .map(|(_, id)| id);
    if let Some(id) = stalest {
        flights.remove(&id);
    }
}

/// Who answers, the daily quota, and the replies in flight.
#[derive(Debug, Clone)]
pub struct TutorService {
    pub tutor: ::tutor::Tutor,
    /// Questions per user and UTC day; 0 for no limit.
    pub daily_quota: u32,
    pub hub: TutorHub,
}

impl TutorService {
    pub fn new(tutor: ::tutor::Tutor, daily_quota: u32) -> Self {
        Self {
            tutor,
            daily_quota,
            hub: TutorHub::default(),
        }
    }

    /// Replies in flight go through `hub` (a relayed one, across nodes).
    pub fn with_hub(self, hub: TutorHub) -> Self {
        Self { hub, ..self }
    }

    /// Answers a recorded question and records the outcome. Runs in the
    /// background; failures are recorded, never lost in a dropped request.
    #[tracing::instrument(skip_all, fields(message_id = %asked.message_id, model = self.tutor.model()))]
    async fn answer(self, commands: Commands, asked: Asked) {
        let id = asked.message_id;
        let request = ::tutor::TutorRequest {
            problem: ::tutor::ProblemContext::from_spec(&asked.problem_slug, &asked.spec),
            code: asked.code,
            judged: asked
                .judged
                .map(|(code, verdict)| ::tutor::JudgedCode { code, verdict }),
            hints_revealed: asked.hints_revealed,
            history: asked.history,
            question: asked.question,
        };
        let started = Instant::now();
        let hub = self.hub.clone();
        // A panic in the engine must still end the flight and record a
        // failure: otherwise the question would stay PENDING and its
        // subscribers would wait for ever.
        let reply = std::panic::AssertUnwindSafe(
            self.tutor.reply(&request, &mut |piece| hub.push(id, piece)),
        )
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(message_id = %id, "the tutor panicked while answering");
            Err(::tutor::TutorError::Unavailable(
                "the tutor panicked".into(),
            ))
        });
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let result = match reply {
            Ok(r) => Ok(TutorAnswer {
                text: r.text,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                hints_revealed: r.hints_revealed,
                replaced: r.replaced,
            }),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, code = e.code(), "the tutor could not answer");
                Err(TutorFailure {
                    code: e.code().to_string(),
                    error: e.user_message(),
                })
            }
        };
        let outcome = TutorOutcome {
            user_id: asked.user_id,
            problem_id: asked.problem_id,
            message_id: id,
            model: self.tutor.model().to_string(),
            latency_ms,
            result,
        };
        if let Err(e) = commands.record_tutor_outcome(outcome).await {
            tracing::error!(message_id = %id, error = %e, "could not record the tutor's reply");
        }
        self.hub.finish(id);
    }
}

/// Where a question stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TutorMessageStatus {
    /// The tutor is answering.
    Pending,
    Answered,
    /// No answer: see `error`. The question is kept.
    Failed,
}

/// Why the tutor could not answer.
#[derive(SimpleObject, Debug, Clone)]
pub struct TutorFailureInfo {
    /// TUTOR_RATE_LIMITED, TUTOR_TIMEOUT, TUTOR_UNAVAILABLE or
    /// TUTOR_PROVIDER_ERROR.
    pub code: String,
    pub message: String,
}

/// A question to the tutor and its answer.
#[derive(SimpleObject, Debug, Clone)]
pub struct TutorMessage {
    pub id: ID,
    pub problem_slug: String,
    pub question: String,
    pub asked_at: DateTime<Utc>,
    pub status: TutorMessageStatus,
    /// Once ANSWERED.
    pub reply: Option<String>,
    pub replied_at: Option<DateTime<Utc>>,
    /// The model that answered, or "offline" for the built-in hint engine.
    pub model: Option<String>,
    /// The model wrote a solution and it was replaced with a hint.
    pub replaced: bool,
    /// Graded hints revealed in this conversation after this answer.
    pub hints_revealed: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub latency_ms: Option<i32>,
    /// Once FAILED.
    pub error: Option<TutorFailureInfo>,
}

fn clamp(v: Option<i64>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

fn failure_code(code: &str) -> String {
    format!("TUTOR_{code}")
}

impl From<MessageView> for TutorMessage {
    fn from(v: MessageView) -> Self {
        Self {
            id: ID(v.message_id.to_string()),
            problem_slug: v.problem_slug,
            question: v.question,
            asked_at: v.asked_at,
            status: match v.status {
                MessageStatus::Pending => TutorMessageStatus::Pending,
                MessageStatus::Answered => TutorMessageStatus::Answered,
                MessageStatus::Failed => TutorMessageStatus::Failed,
            },
            reply: v.reply,
            replied_at: v.replied_at,
            model: v.model,
            replaced: v.replaced,
            hints_revealed: clamp(v.hints_revealed),
            prompt_tokens: clamp(v.prompt_tokens),
            completion_tokens: clamp(v.completion_tokens),
            latency_ms: clamp(v.latency_ms),
            error: v.error_code.map(|code| TutorFailureInfo {
                code: failure_code(&code),
                message: v.error_message.unwrap_or_default(),
            }),
        }
    }
}

/// Which tutor answers.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TutorMode {
    /// A language model behind an OpenAI-compatible endpoint.
    Online,
    /// The built-in hint engine (no model configured).
    Offline,
}

#[derive(SimpleObject, Debug)]
pub struct TutorQuota {
    /// Questions allowed per UTC day; null for no limit.
    pub daily_limit: Option<i32>,
    pub used_today: i32,
    /// Null for no limit.
    pub remaining: Option<i32>,
}

/// Your conversation with the tutor about one problem.
#[derive(SimpleObject, Debug)]
pub struct TutorConversation {
    pub problem_slug: String,
    pub mode: TutorMode,
    pub model: String,
    /// Graded hints revealed so far.
    pub hints_revealed: i32,
    /// Oldest first.
    pub messages: Vec<TutorMessage>,
    pub quota: TutorQuota,
}

/// Tutor use by one user on one problem on one UTC day.
#[derive(SimpleObject, Debug)]
pub struct TutorUsageEntry {
    pub date: NaiveDate,
    pub user_id: ID,
    pub username: Option<String>,
    pub problem_slug: String,
    pub questions: i64,
    pub replies: i64,
    /// Questions the provider failed to answer.
    pub failures: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Over replies; null without one.
    pub mean_latency_ms: Option<f64>,
    pub max_latency_ms: i64,
}

/// What a reply's subscriber hears.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TutorReplyPhase {
    /// Being written: `delta` is new text, `text` all of it so far.
    Streaming,
    /// Recorded: `message` holds the answer (which replaces the streamed
    /// text if the guard stepped in). The last update.
    Answered,
}

#[derive(SimpleObject, Debug)]
pub struct TutorReplyUpdate {
    pub message_id: ID,
    pub reason: UpdateReason,
    pub phase: TutorReplyPhase,
    /// Text added since the previous update.
    pub delta: String,
    /// The reply so far (the whole reply once ANSWERED).
    pub text: String,
    /// Once ANSWERED.
    pub message: Option<TutorMessage>,
}

async fn published_problem(
    s: &Services,
    slug: &str,
    actor: &Actor,
) -> async_graphql::Result<queries::ProblemView> {
    problem_view(&s.db, slug, actor.role == Role::Admin).await
}

#[derive(Debug, Default)]
pub struct TutorQuery;

#[Object]
impl TutorQuery {
    /// Your conversation with the tutor about a problem, with your quota.
    async fn tutor_conversation(
        &self,
        ctx: &Context<'_>,
        problem_slug: String,
    ) -> async_graphql::Result<TutorConversation> {
        let s = services(ctx);
        let actor = request(ctx).actor()?;
        let problem = published_problem(s, &problem_slug, actor).await?;
        let messages = projections::tutor::conversation(&s.db, actor.user_id, problem.problem_id)
            .await
            .map_err(from_read)?;
        let hints_revealed = messages
            .iter()
            .filter_map(|m| m.hints_revealed)
            .max()
            .unwrap_or(0);
        let used = s
            .commands
            .tutor_questions_on(actor.user_id, Utc::now().date_naive())
            .await
            .map_err(from_command)?;
        let limit = s.tutor.daily_quota;
        let to_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(TutorConversation {
            problem_slug: problem.slug,
            mode: if s.tutor.tutor.is_online() {
                TutorMode::Online
            } else {
                TutorMode::Offline
            },
            model: s.tutor.tutor.model().to_string(),
            hints_revealed: clamp(Some(hints_revealed)).unwrap_or(0),
            messages: messages.into_iter().map(TutorMessage::from).collect(),
            quota: TutorQuota {
                daily_limit: (limit > 0).then(|| to_i32(limit)),
                used_today: to_i32(used),
                remaining: (limit > 0).then(|| to_i32(limit.saturating_sub(used))),
            },
        })
    }

    /// Admins only: tutor use per UTC day, user and problem from `from` to
    /// `to` (default: the 30 days that end today; at most 366), newest day
    /// first: questions, replies, failures, tokens and latency.
    async fn tutor_usage(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> async_graphql::Result<Vec<TutorUsageEntry>> {
        request(ctx).admin()?;
        let today = Utc::now().date_naive();
        let (from, to) = crate::stats::date_range(from, to, 30, today)?;
        let rows = projections::tutor::usage(&services(ctx).db, from, to)
            .await
            .map_err(from_read)?;
        Ok(rows
            .into_iter()
            .map(|r| TutorUsageEntry {
                date: r.date,
                user_id: ID(r.user_id.to_string()),
                username: r.username,
                problem_slug: r.problem_slug,
                questions: r.questions,
                replies: r.replies,
                failures: r.failures,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                mean_latency_ms: r.mean_latency_ms,
                max_latency_ms: r.max_latency_ms,
            })
            .collect())
    }
}

#[derive(Debug, Default)]
pub struct TutorMutation;

#[Object]
impl TutorMutation {
    /// Asks the tutor about a published problem (at most 4000 characters).
    /// `code` is what is in your editor; without it the tutor sees your
    /// latest submission. The tutor also sees your latest verdict and the
    /// hints it gave before. The question is recorded and returned PENDING;
    /// follow `tutorReply(messageId)` for the answer. RATE_LIMITED once the
    /// daily quota is used up; CONFLICT while a previous question is being
    /// answered.
    async fn ask_tutor(
        &self,
        ctx: &Context<'_>,
        problem_slug: String,
        message: String,
        code: Option<String>,
    ) -> async_graphql::Result<TutorMessage> {
        let s = services(ctx);
        let actor = request(ctx).actor()?;
        let latest = queries::submissions_of(&s.db, actor.user_id, Some(&problem_slug), 1, 0)
            .await
            .map_err(from_read)?
            .into_iter()
            .next()
            .map(|v| v.submission_id);
        let done = s
            .commands
            .ask_tutor(
                actor,
                AskTutor {
                    problem_slug: &problem_slug,
                    text: &message,
                    code: code.as_deref(),
                    latest_submission: latest,
                    daily_limit: s.tutor.daily_quota,
                },
            )
            .await
            .map_err(from_command)?;
        let id = done.value.message_id;
        s.tutor.hub.start(id);
        tokio::spawn(s.tutor.clone().answer(s.commands.clone(), done.value));
        s.settle(done.cursor).await?;
        projections::tutor::message_by_id(&s.db, id)
            .await
            .map_err(from_read)?
            .map(TutorMessage::from)
            .ok_or_else(|| internal("a recorded tutor message is missing", &id))
    }
}

#[derive(Debug, Default)]
pub struct TutorSubscription;

#[Subscription]
impl TutorSubscription {
    /// The tutor's answer to one of your questions as it is written: the
    /// text so far first (INITIAL), then each new piece (STREAMING), then
    /// ANSWERED with the recorded message, after which the subscription
    /// completes. If the tutor could not answer, an error with
    /// `extensions.code` TUTOR_RATE_LIMITED, TUTOR_TIMEOUT,
    /// TUTOR_UNAVAILABLE or TUTOR_PROVIDER_ERROR ends it instead; the
    /// question stays in the conversation.
    async fn tutor_reply(
        &self,
        ctx: &Context<'_>,
        message_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TutorReplyUpdate>>> {
        let s = services(ctx).clone();
        let session = crate::subscription::session(ctx)?;
        let actor = session.recheck(&s).await?;
        let id = parse_id::<MessageId>(&message_id, "message")?;
        // Listen before reading: whatever happens after the read is heard.
        let events = Box::pin(live::listen(s.live.events()));
        let starts = Box::pin(live::listen(s.tutor.hub.starts()));
        let flight = s.tutor.hub.join(id);
        let view = projections::tutor::message_by_id(&s.db, id)
            .await
            .map_err(from_read)?
            .filter(|v| v.user_id == actor.user_id || actor.role == Role::Admin)
            .ok_or_else(|| api_error(Code::NotFound, "tutor message not found"))?;
        let (text, pieces) = match flight {
            Some((text, rx)) => (text, Some(Box::pin(live::listen(rx)) as Pieces)),
            None => (String::new(), None),
        };
        let mut watch = ReplyWatch {
            s,
            id,
            events,
            starts,
            pieces,
            text,
            done: false,
        };
        let first = match view.status {
            MessageStatus::Pending => Ok(watch.streaming(String::new(), UpdateReason::Initial)),
            _ => watch.settled(view, UpdateReason::Initial),
        };
        let rest = futures::stream::unfold(watch, |mut watch| async move {
            let update = watch.next().await?;
            Some((update, watch))
        });
        // Like every subscription, it ends when the token expires.
        Ok(until_expired(
            session.clone(),
            futures::stream::once(async move { first }).chain(rest),
        ))
    }
}

type Pieces = std::pin::Pin<Box<dyn Stream<Item = Heard<String>> + Send>>;

struct ReplyWatch {
    s: Services,
    id: MessageId,
    events: std::pin::Pin<Box<dyn Stream<Item = Heard<Arc<live::LiveEvent>>> + Send>>,
    /// Flights starting, heard while this reply has none: its start was
    /// relayed after the subscription, or a relayed flight came back.
    starts: std::pin::Pin<Box<dyn Stream<Item = Heard<MessageId>> + Send>>,
    /// `None` once the flight ended (or was never here).
    pieces: Option<Pieces>,
    text: String,
    done: bool,
}

impl ReplyWatch {
    fn streaming(&mut self, delta: String, reason: UpdateReason) -> TutorReplyUpdate {
        TutorReplyUpdate {
            message_id: ID(self.id.to_string()),
            reason,
            phase: TutorReplyPhase::Streaming,
            delta,
            text: self.text.clone(),
            message: None,
        }
    }

    /// The last item: the recorded answer, or the coded failure.
    fn settled(
        &mut self,
        view: MessageView,
        reason: UpdateReason,
    ) -> async_graphql::Result<TutorReplyUpdate> {
        self.done = true;
        let message = TutorMessage::from(view);
        match (&message.status, &message.error) {
            (TutorMessageStatus::Failed, Some(error)) => {
                let (code, id) = (error.code.clone(), message.id.to_string());
                Err(
                    async_graphql::Error::new(error.message.clone()).extend_with(move |_, e| {
                        e.set("code", code.as_str());
                        e.set("messageId", id.as_str());
                    }),
                )
            }
            _ => Ok(TutorReplyUpdate {
                message_id: message.id.clone(),
                reason,
                phase: TutorReplyPhase::Answered,
                delta: String::new(),
                text: message.reply.clone().unwrap_or_default(),
                message: Some(message),
            }),
        }
    }

    async fn reload(
        &mut self,
        reason: UpdateReason,
    ) -> Option<async_graphql::Result<TutorReplyUpdate>> {
        let view = match projections::tutor::message_by_id(&self.s.db, self.id).await {
            Ok(Some(view)) => view,
            Ok(None) => {
                self.done = true;
                return Some(Err(internal("a followed tutor message vanished", &self.id)));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(from_read(e)));
            }
        };
        if view.status == MessageStatus::Pending {
            return None;
        }
        Some(self.settled(view, reason))
    }

    async fn next(&mut self) -> Option<async_graphql::Result<TutorReplyUpdate>> {
        if self.done {
            return None;
        }
        loop {
            let pieces = &mut self.pieces;
            let flying = pieces.is_some();
            let piece = async {
                match pieces.as_mut() {
                    Some(p) => p.next().await,
                    None => std::future::pending().await,
                }
            };
            let starts = &mut self.starts;
            let start = async {
                if flying {
                    std::future::pending::<()>().await;
                }
                match starts.next().await {
                    Some(heard) => heard,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Pieces are written before the reply is recorded: first.
                biased;
                heard = piece => match heard {
                    Some(Heard::Message(delta)) => {
                        self.text.push_str(&delta);
                        return Some(Ok(self.streaming(delta, UpdateReason::Changed)));
                    }
                    Some(Heard::Lagged) => {
                        // A fresh receiver with the text so far, taken under
                        // the hub's lock: a piece pushed after the old
                        // receiver was drained is in the text or in the new
                        // receiver, never in both (or it would show twice).
                        match self.s.tutor.hub.join(self.id) {
                            Some((text, rx)) => {
                                self.text = text;
                                self.pieces = Some(Box::pin(live::listen(rx)));
                            }
                            None => self.pieces = None,
                        }
                        return Some(Ok(self.streaming(String::new(), UpdateReason::Resync)));
                    }
                    None => self.pieces = None,
                },
                heard = start => {
                    let ours = match heard {
                        Heard::Message(id) => id == self.id,
                        Heard::Lagged => true,
                    };
                    // A flight that (re)starts after ours ended carries on
                    // from where ours stopped: its text so far is new.
                    if let Some((text, rx)) = ours.then(|| self.s.tutor.hub.join(self.id)).flatten() {
                        self.pieces = Some(Box::pin(live::listen(rx)));
                        if !text.is_empty() {
                            self.text.push_str(&text);
                            return Some(Ok(self.streaming(text, UpdateReason::Changed)));
                        }
                    }
                },
                heard = self.events.next() => match heard? {
                    Heard::Message(e) if settles(&e.event, self.id) => {
                        if let Some(update) = self.reload(UpdateReason::Changed).await {
                            return Some(update);
                        }
                    }
                    Heard::Message(_) => {}
                    Heard::Lagged => {
                        if let Some(update) = self.reload(UpdateReason::Resync).await {
                            return Some(update);
                        }
                    }
                },
            }
        }
    }
}

fn settles(event: &Event, id: MessageId) -> bool {
    matches!(
        event,
        Event::Tutor(
            TutorEvent::TutorReplied { message_id, .. } | TutorEvent::TutorReplyFailed { message_id, .. }
        ) if *message_id == id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Recorded(Mutex<Vec<(MessageId, TutorSignal)>>);

    impl TutorRelay for Recorded {
        fn send(&self, message_id: MessageId, signal: &TutorSignal) {
            self.0.lock().unwrap().push((message_id, signal.clone()));
        }
    }

    fn piece(text: &str) -> TutorSignal {
        TutorSignal::Piece(text.to_string())
    }

    #[test]
    fn a_reply_written_here_is_relayed_in_order() {
        let relay = Arc::new(Recorded::default());
        let hub = TutorHub::relayed(relay.clone());
        let id = MessageId::new();
        hub.start(id);
        hub.push(id, "Look ");
        hub.push(id, "again.");
        hub.finish(id);
        assert_eq!(
            *relay.0.lock().unwrap(),
            vec![
                (id, TutorSignal::Started),
                (id, piece("Look ")),
                (id, piece("again.")),
                (id, TutorSignal::Finished),
            ]
        );
    }

    #[test]
    fn a_relayed_piece_of_an_unknown_reply_starts_it_and_finish_ends_it() {
        let hub = TutorHub::default();
        let mut starts = hub.starts();
        let id = MessageId::new();
        hub.hear(id, piece("Look "));
        assert_eq!(starts.try_recv().unwrap(), id);
        let (text, mut rx) = hub.join(id).unwrap();
        assert_eq!(text, "Look ");
        hub.hear(id, piece("again."));
        assert_eq!(rx.try_recv().unwrap(), "again.");
        assert_eq!(hub.join(id).unwrap().0, "Look again.");
        hub.hear(id, TutorSignal::Finished);
        assert!(hub.join(id).is_none());
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        hub.hear(MessageId::new(), TutorSignal::Finished);
        assert!(hub.lock().is_empty(), "a finish alone starts nothing");
    }

    #[test]
    fn relayed_signals_never_touch_a_reply_written_here() {
        let hub = TutorHub::default();
        let id = MessageId::new();
        hub.start(id);
        hub.push(id, "mine");
        hub.hear(id, piece("theirs"));
        hub.hear(id, TutorSignal::Finished);
        assert_eq!(hub.join(id).unwrap().0, "mine");
    }

    #[test]
    fn a_relayed_reply_silent_for_too_long_is_dropped() {
        let hub = TutorHub::default();
        let (quiet, talking) = (MessageId::new(), MessageId::new());
        let t0 = Instant::now();
        hub.hear_at(quiet, TutorSignal::Started, t0);
        hub.hear_at(talking, TutorSignal::Started, t0);
        let later = t0 + REMOTE_SILENCE / 2;
        hub.hear_at(talking, piece("still here"), later);
        hub.hear_at(talking, piece("."), later + REMOTE_SILENCE / 2);
        assert!(hub.join(quiet).is_none());
        assert_eq!(hub.join(talking).unwrap().0, "still here.");
    }

    #[test]
    fn relayed_replies_are_bounded_in_number_and_size() {
        let hub = TutorHub::default();
        let t0 = Instant::now();
        let ids: Vec<MessageId> = (0..=REMOTE_FLIGHTS).map(|_| MessageId::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            let at = t0 + Duration::from_millis(u64::try_from(i).unwrap());
            hub.hear_at(*id, TutorSignal::Started, at);
        }
        assert_eq!(hub.lock().len(), REMOTE_FLIGHTS);
        assert!(hub.join(ids[0]).is_none(), "the stalest made room");
        assert!(hub.join(ids[REMOTE_FLIGHTS]).is_some());

        let big = ids[1];
        hub.hear(big, TutorSignal::Piece("x".repeat(REMOTE_TEXT_BYTES)));
        assert!(hub.join(big).is_some());
        hub.hear(big, piece("y"));
        assert!(hub.join(big).is_none(), "a reply too long is dropped");
    }
}
