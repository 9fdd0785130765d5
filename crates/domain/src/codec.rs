//! How domain events are stored: a stable type name, a schema version and a
//! JSON payload. Never a Rust type path: renaming a Rust item must not change
//! what is on disk (a test pins every name).
//!
//! Upcasting lives here too. When an event's shape changes, its schema version
//! goes up and [`upcast`] learns to turn the old payload into the new one, so
//! code past the store boundary only ever sees the current shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::forum::CommentEvent;
use crate::playground::PlaygroundEvent;
use crate::problem::ProblemEvent;
use crate::rejudge::RejudgeEvent;
use crate::reservation::ReservationEvent;
use crate::submission::SubmissionEvent;
use crate::tutor::TutorEvent;
use crate::user::UserEvent;

/// Every event the system records, grouped by aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    User(UserEvent),
    Problem(ProblemEvent),
    Submission(SubmissionEvent),
    Reservation(ReservationEvent),
    Playground(PlaygroundEvent),
    Rejudge(RejudgeEvent),
    Comment(CommentEvent),
    Tutor(TutorEvent),
}

impl From<UserEvent> for Event {
    fn from(e: UserEvent) -> Self {
        Event::User(e)
    }
}
impl From<ProblemEvent> for Event {
    fn from(e: ProblemEvent) -> Self {
        Event::Problem(e)
    }
}
impl From<SubmissionEvent> for Event {
    fn from(e: SubmissionEvent) -> Self {
        Event::Submission(e)
    }
}
impl From<PlaygroundEvent> for Event {
    fn from(e: PlaygroundEvent) -> Self {
        Event::Playground(e)
    }
}
impl From<RejudgeEvent> for Event {
    fn from(e: RejudgeEvent) -> Self {
        Event::Rejudge(e)
    }
}
impl From<CommentEvent> for Event {
    fn from(e: CommentEvent) -> Self {
        Event::Comment(e)
    }
}
impl From<TutorEvent> for Event {
    fn from(e: TutorEvent) -> Self {
        Event::Tutor(e)
    }
}
impl From<ReservationEvent> for Event {
    fn from(e: ReservationEvent) -> Self {
        Event::Reservation(e)
    }
}

macro_rules! narrow {
    ($variant:ident, $ty:ty) => {
        impl TryFrom<Event> for $ty {
            type Error = Event;
            fn try_from(e: Event) -> Result<Self, Event> {
                match e {
                    Event::$variant(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
    };
}
narrow!(User, UserEvent);
narrow!(Problem, ProblemEvent);
narrow!(Submission, SubmissionEvent);
narrow!(Reservation, ReservationEvent);
narrow!(Playground, PlaygroundEvent);
narrow!(Rejudge, RejudgeEvent);
narrow!(Comment, CommentEvent);
narrow!(Tutor, TutorEvent);

/// An event ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub event_type: &'static str,
    pub schema_version: u32,
    pub data: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error(
        "event {event_type} has schema version {version}, newer than this build knows ({known})"
    )]
    FutureVersion {
        event_type: String,
        version: u32,
        known: u32,
    },
    #[error("event {event_type} v{version} does not decode: {source}")]
    Malformed {
        event_type: String,
        version: u32,
        #[source]
        source: serde_json::Error,
    },
}

/// Each stored type name with its current schema version. Append only.
pub const EVENT_TYPES: &[(&str, u32)] = &[
    ("UserRegistered", 1),
    ("UserProfileUpdated", 1),
    ("UserPasswordChanged", 1),
    ("UserRoleChanged", 1),
    ("UserDeactivated", 1),
    ("UserReactivated", 1),
    ("ProblemCreated", 1),
    ("ProblemEdited", 1),
    ("ProblemPublished", 1),
    ("ProblemArchived", 1),
    ("SubmissionCreated", 1),
    ("KeyReserved", 1),
    ("SubmissionJudged", 1),
    ("PlaygroundRunCompleted", 1),
    ("SubmissionRejudgeRequested", 1),
    ("RejudgeStarted", 1),
    ("CommentPosted", 1),
    ("CommentEdited", 1),
    ("CommentDeleted", 1),
    ("CommentHidden", 1),
    ("CommentUnhidden", 1),
    ("CommentVoted", 1),
    ("TutorMessageSent", 1),
    ("TutorReplied", 1),
    ("TutorReplyFailed", 1),
    ("TutorQuotaUsed", 1),
];

fn current_version(event_type: &str) -> Option<(&'static str, u32)> {
    EVENT_TYPES
        .iter()
        .copied()
        .find(|(name, _)| *name == event_type)
}

/// Splits an event into its stored parts.
pub fn encode(event: &Event) -> Encoded {
    // Each aggregate enum serialises externally tagged: {"VariantName": {...}}.
    let tagged = match event {
        Event::User(e) => serde_json::to_value(e),
        Event::Problem(e) => serde_json::to_value(e),
        Event::Submission(e) => serde_json::to_value(e),
        Event::Reservation(e) => serde_json::to_value(e),
        Event::Playground(e) => serde_json::to_value(e),
        Event::Rejudge(e) => serde_json::to_value(e),
        Event::Comment(e) => serde_json::to_value(e),
        Event::Tutor(e) => serde_json::to_value(e),
    }
    .expect("domain events always serialise");
    let Value::Object(map) = tagged else {
        unreachable!("events are struct variants")
    };
    let (name, data) = map.into_iter().next().expect("one tag");
    let (event_type, schema_version) = current_version(&name)
        .unwrap_or_else(|| panic!("event type {name} is missing from EVENT_TYPES"));
    Encoded {
        event_type,
        schema_version,
        data,
    }
}

/// Rebuilds an event from its stored parts, upcasting old shapes first.
pub fn decode(event_type: &str, schema_version: u32, data: Value) -> Result<Event, CodecError> {
    let (name, _) = checked(event_type, schema_version)?;
    let data = upcast(name, schema_version, data);
    let tagged = Value::Object([(name.to_string(), data)].into_iter().collect());
    dispatch(name, tagged).map_err(|source| CodecError::Malformed {
        event_type: name.into(),
        version: schema_version,
        source,
    })
}

/// [`decode`] from the payload's JSON text. A payload of the current
/// version is parsed straight into the event, with no intermediate
/// `Value`: how a replay reads the whole log fast. Older ones are upcast.
pub fn decode_text(event_type: &str, schema_version: u32, data: &str) -> Result<Event, CodecError> {
    let (name, known) = checked(event_type, schema_version)?;
    let malformed = |source| CodecError::Malformed {
        event_type: name.into(),
        version: schema_version,
        source,
    };
    if schema_version < known {
        return decode(
            event_type,
            schema_version,
            serde_json::from_str(data).map_err(malformed)?,
        );
    }
    // Each aggregate enum is externally tagged: {"VariantName": {...}}.
    let tagged = format!("{{\"{name}\":{data}}}");
    dispatch_text(name, &tagged).map_err(malformed)
}

/// The event type's name as this build spells it and its current version,
/// or why a payload of `schema_version` cannot be read.
fn checked(event_type: &str, schema_version: u32) -> Result<(&'static str, u32), CodecError> {
    let (name, known) =
        current_version(event_type).ok_or_else(|| CodecError::UnknownType(event_type.into()))?;
    if schema_version > known {
        return Err(CodecError::FutureVersion {
            event_type: name.into(),
            version: schema_version,
            known,
        });
    }
    Ok((name, known))
}

/// The aggregate enum an event type belongs to, deserialised from a tagged
/// `Value`.
fn dispatch(name: &str, tagged: Value) -> Result<Event, serde_json::Error> {
    Ok(match aggregate_of(name) {
        Aggregate::User => Event::User(serde_json::from_value(tagged)?),
        Aggregate::Problem => Event::Problem(serde_json::from_value(tagged)?),
        Aggregate::Submission => Event::Submission(serde_json::from_value(tagged)?),
        Aggregate::Playground => Event::Playground(serde_json::from_value(tagged)?),
        Aggregate::Rejudge => Event::Rejudge(serde_json::from_value(tagged)?),
        Aggregate::Comment => Event::Comment(serde_json::from_value(tagged)?),
        Aggregate::Tutor => Event::Tutor(serde_json::from_value(tagged)?),
        Aggregate::Reservation => Event::Reservation(serde_json::from_value(tagged)?),
    })
}

/// [`dispatch`] from tagged JSON text.
fn dispatch_text(name: &str, tagged: &str) -> Result<Event, serde_json::Error> {
    Ok(match aggregate_of(name) {
        Aggregate::User => Event::User(serde_json::from_str(tagged)?),
        Aggregate::Problem => Event::Problem(serde_json::from_str(tagged)?),
        Aggregate::Submission => Event::Submission(serde_json::from_str(tagged)?),
        Aggregate::Playground => Event::Playground(serde_json::from_str(tagged)?),
        Aggregate::Rejudge => Event::Rejudge(serde_json::from_str(tagged)?),
        Aggregate::Comment => Event::Comment(serde_json::from_str(tagged)?),
        Aggregate::Tutor => Event::Tutor(serde_json::from_str(tagged)?),
        Aggregate::Reservation => Event::Reservation(serde_json::from_str(tagged)?),
    })
}

enum Aggregate {
    User,
    Problem,
    Submission,
    Playground,
    Rejudge,
    Comment,
    Tutor,
    Reservation,
}

fn aggregate_of(name: &str) -> Aggregate {
    match name {
        n if n.starts_with("User") => Aggregate::User,
        n if n.starts_with("Problem") => Aggregate::Problem,
        n if n.starts_with("Submission") => Aggregate::Submission,
        n if n.starts_with("Playground") => Aggregate::Playground,
        n if n.starts_with("Rejudge") => Aggregate::Rejudge,
        n if n.starts_with("Comment") => Aggregate::Comment,
        n if n.starts_with("Tutor") => Aggregate::Tutor,
        _ => Aggregate::Reservation,
    }
}

/// Turns a payload of `version` into the current shape of `event_type`.
/// Every schema so far is at version 1, so there is nothing to convert yet;
/// the first change adds an arm here and a test with a stored v1 payload.
fn upcast(_event_type: &str, _version: u32, data: Value) -> Value {
    data
}
