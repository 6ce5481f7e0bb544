//! A failed command: its exit code and the message with a hint.

use std::fmt;

use tonic::Code;

use crate::Error;

#[derive(Debug)]
pub(super) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

/// What a command acts on: the hint for a refusal depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    User,
    Role,
}

impl Failure {
    pub(super) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            hint: None,
        }
    }

    pub(super) fn from_error(error: &Error, endpoint: &str, subject: Subject) -> Self {
        // A user command names roles too (`--role`); the server's message
        // names the field at fault first, so a missing role says `role:`.
        let names_missing_role = error.message().is_some_and(|m| m.starts_with("role:"));
        let (code, advice) = match (error.code(), subject) {
            _ if matches!(error, Error::Transport(_)) || error.is_unavailable() => (
                5,
                format!("is accesskeyd running at {endpoint}? Set --endpoint or ACCESSKEY_ENDPOINT"),
            ),
            (Some(Code::NotFound), _) if subject == Subject::Role || names_missing_role => (
                3,
                "`accesskey role list` shows which roles exist".to_owned(),
            ),
            (Some(Code::NotFound), _) => (3, "`accesskey user list` shows who exists".to_owned()),
            (Some(Code::Unauthenticated), _) => (
                4,
                "check your key in ACCESSKEY_KEY or --key-file (it may be revoked, replaced or expired)"
                    .to_owned(),
            ),
            (Some(Code::PermissionDenied), _) => {
                (4, "ask an admin to grant your user that permission".to_owned())
            }
            (Some(Code::InvalidArgument), _) => (1, "fix the value named above".to_owned()),
            (Some(Code::AlreadyExists), _) => (
                1,
                format!("pick another name, or update the existing {}", subject.noun()),
            ),
            (Some(Code::FailedPrecondition), Subject::User) => {
                (1, "the request conflicts with the user's state".to_owned())
            }
            (Some(Code::FailedPrecondition), Subject::Role) => (
                1,
                "the request conflicts with who holds the role (`accesskey role get NAME` lists them)"
                    .to_owned(),
            ),
            (Some(Code::Aborted), _) => (
                1,
                format!(
                    "the {} kept changing while this command edited it; run it again",
                    subject.noun()
                ),
            ),
            _ => (1, "see the server log for details".to_owned()),
        };
        let what = match error.message() {
            Some(message) => message.to_owned(),
            None => error.to_string(),
        };
        Self {
            code,
            message: what,
            hint: Some(advice),
        }
    }

    /// The same failure, with `advice` in place of the general hint, for a
    /// command that knows better what to do next.
    pub(super) fn hint(self, advice: impl Into<String>) -> Self {
        Self {
            hint: Some(advice.into()),
            ..self
        }
    }
}

impl Subject {
    fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.hint {
            Some(advice) => write!(f, "\nhint: {advice}"),
            None => Ok(()),
        }
    }
}
