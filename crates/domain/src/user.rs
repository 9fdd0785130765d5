//! The user aggregate: registration, profile, password, role and activation.

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, Timestamp, UserId};

/// What a user may do. Admins author problems and manage users; reviewers
/// review code sent to them (a later feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Role {
    #[default]
    User,
    Reviewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserEvent {
    UserRegistered {
        user_id: UserId,
        username: String,
        email: String,
        password_hash: String,
        role: Role,
        at: Timestamp,
    },
    UserProfileUpdated {
        user_id: UserId,
        display_name: String,
        bio: String,
        at: Timestamp,
    },
    /// Changing the password ends every session issued before it.
    UserPasswordChanged {
        user_id: UserId,
        password_hash: String,
        session_epoch: u32,
        at: Timestamp,
    },
    UserRoleChanged {
        user_id: UserId,
        role: Role,
        by: UserId,
        at: Timestamp,
    },
    /// A deactivated user cannot log in, and every session issued before ends.
    UserDeactivated {
        user_id: UserId,
        by: UserId,
        reason: String,
        session_epoch: u32,
        at: Timestamp,
    },
    UserReactivated {
        user_id: UserId,
        by: UserId,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Register {
        user_id: UserId,
        username: String,
        email: String,
        password_hash: String,
        role: Role,
        at: Timestamp,
    },
    UpdateProfile {
        display_name: String,
        bio: String,
        at: Timestamp,
    },
    /// The handler has checked the current password before hashing the new one.
    ChangePassword {
        password_hash: String,
        at: Timestamp,
    },
    ChangeRole {
        role: Role,
        by: UserId,
        at: Timestamp,
    },
    Deactivate {
        by: UserId,
        reason: String,
        at: Timestamp,
    },
    Reactivate {
        by: UserId,
        at: Timestamp,
    },
}

/// The state a decision needs; `None` before registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User(pub Option<UserState>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub active: bool,
    /// Tokens carry the epoch they were issued in; a bump ends older tokens.
    pub session_epoch: u32,
}

pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 256;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const BIO_MAX: usize = 2000;

/// Usernames are 3 to 32 ASCII letters, digits, `_` or `-`, starting with a letter.
pub fn validate_username(username: &str) -> Result<(), DomainError> {
    let ok_len = (3..=USERNAME_MAX).contains(&username.len());
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let ok_start = username.starts_with(|c: char| c.is_ascii_alphabetic());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "username",
            "must be 3 to 32 characters: letters, digits, '_' or '-', starting with a letter",
        ))
    }
}

/// A deliberately modest check: one `@`, a dot in the domain, no spaces.
pub fn validate_email(email: &str) -> Result<(), DomainError> {
    let bad = || DomainError::invalid("email", "is not a valid email address");
    if email.len() > EMAIL_MAX || email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

/// Checked before hashing, so the domain never sees the password itself.
pub fn validate_password(password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < PASSWORD_MIN || password.len() > PASSWORD_MAX {
        return Err(DomainError::invalid(
            "password",
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"),
        ));
    }
    Ok(())
}

/// Usernames and emails are unique regardless of case.
pub fn normalize_key(s: &str) -> String {
    s.trim().to_lowercase()
}

impl Aggregate for User {
    type Command = UserCommand;
    type Event = UserEvent;

    fn evolve(self, event: &UserEvent) -> Self {
        use UserEvent::*;
        let mut state = self.0;
        match event {
            UserRegistered {
                user_id,
                username,
                email,
                password_hash,
                role,
                ..
            } => {
                state = Some(UserState {
                    id: *user_id,
                    username: username.clone(),
                    email: email.clone(),
                    password_hash: password_hash.clone(),
                    role: *role,
                    active: true,
                    session_epoch: 0,
                });
            }
            UserProfileUpdated { .. } => {}
            UserPasswordChanged {
                password_hash,
                session_epoch,
                ..
            } => {
                if let Some(s) = state.as_mut() {
                    s.password_hash = password_hash.clone();
                    s.session_epoch = *session_epoch;
                }
            }
            UserRoleChanged { role, .. } => {
                if let Some(s) = state.as_mut() {
                    s.role = *role;
                }
            }
            UserDeactivated { session_epoch, .. } => {
                if let Some(s) = state.as_mut() {
                    s.active = false;
                    s.session_epoch = *session_epoch;
                }
            }
            UserReactivated { .. } => {
                if let Some(s) = state.as_mut() {
                    s.active = true;
                }
            }
        }
        User(state)
    }

    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        use UserCommand::*;
        let Some(state) = &self.0 else {
            return match command {
                Register {
                    user_id,
                    username,
                    email,
                    password_hash,
                    role,
                    at,
                } => {
                    validate_username(&username)?;
                    validate_email(&email)?;
                    if password_hash.is_empty() {
                        return Err(DomainError::invalid("password", "must not be empty"));
                    }
                    Ok(vec![UserEvent::UserRegistered {
                        user_id,
                        username,
                        email: email.trim().to_string(),
                        password_hash,
                        role,
                        at,
                    }])
                }
                _ => Err(DomainError::NotFound("user")),
            };
        };
        let user_id = state.id;
        match command {
            Register { .. } => Err(DomainError::AlreadyExists("user")),
            UpdateProfile {
                display_name,
                bio,
                at,
            } => {
                let display_name = display_name.trim().to_string();
                if display_name.chars().count() > DISPLAY_NAME_MAX {
                    return Err(DomainError::invalid(
                        "displayName",
                        format!("must be at most {DISPLAY_NAME_MAX} characters"),
                    ));
                }
                if bio.chars().count() > BIO_MAX {
                    return Err(DomainError::invalid(
                        "bio",
                        format!("must be at most {BIO_MAX} characters"),
                    ));
                }
                require_active(state)?;
                Ok(vec![UserEvent::UserProfileUpdated {
                    user_id,
                    display_name,
                    bio,
                    at,
                }])
            }
            ChangePassword { password_hash, at } => {
                require_active(state)?;
                Ok(vec![UserEvent::UserPasswordChanged {
                    user_id,
                    password_hash,
                    session_epoch: state.session_epoch + 1,
                    at,
                }])
            }
            ChangeRole { role, by, at } => {
                if by == user_id {
                    return Err(DomainError::InvalidState(
                        "admins cannot change their own role".into(),
                    ));
                }
                if role == state.role {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::UserRoleChanged {
                    user_id,
                    role,
                    by,
                    at,
                }])
            }
            Deactivate { by, reason, at } => {
                if by == user_id {
                    return Err(DomainError::InvalidState(
                        "admins cannot deactivate themselves".into(),
                    ));
                }
                if !state.active {
                    return Err(DomainError::InvalidState(
                        "user is already deactivated".into(),
                    ));
                }
                if reason.chars().count() > 500 {
                    return Err(DomainError::invalid(
                        "reason",
                        "must be at most 500 characters",
                    ));
                }
                Ok(vec![UserEvent::UserDeactivated {
                    user_id,
                    by,
                    reason,
                    session_epoch: state.session_epoch + 1,
                    at,
                }])
            }
            Reactivate { by, at } => {
                if state.active {
                    return Err(DomainError::InvalidState("user is already active".into()));
                }
                Ok(vec![UserEvent::UserReactivated { user_id, by, at }])
            }
        }
    }
}

fn require_active(state: &UserState) -> Result<(), DomainError> {
    if state.active {
        Ok(())
    } else {
        Err(DomainError::InvalidState("user is deactivated".into()))
    }
}
