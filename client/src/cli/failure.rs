//! A failed command: its exit code and the message with a hint.

use tonic::Code;

use crate::Error;

#[derive(Debug)]
pub(super) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub(super) fn from_error(error: &Error, endpoint: &str) -> Self {
        let (code, advice) = match error.code() {
            _ if matches!(error, Error::Transport(_)) || error.is_unavailable() => (
                5,
                format!("is accesskeyd running at {endpoint}? Set --endpoint or ACCESSKEY_ENDPOINT"),
            ),
            Some(Code::NotFound) => (3, "`accesskey user list` shows who exists".to_owned()),
            Some(Code::Unauthenticated) => (
                4,
                "check your key in ACCESSKEY_KEY or --key-file (it may be revoked, replaced or expired)"
                    .to_owned(),
            ),
            Some(Code::PermissionDenied) => {
                (4, "ask an admin to grant your user that permission".to_owned())
            }
            Some(Code::InvalidArgument) => (1, "fix the value named above".to_owned()),
            Some(Code::AlreadyExists) => (1, "pick another name, or update the existing user".to_owned()),
            Some(Code::FailedPrecondition) => (1, "the request conflicts with the user's state".to_owned()),
            Some(Code::Aborted) => (
                1,
                "the user kept changing while this command edited it; run it again".to_owned(),
            ),
            _ => (1, "see the server log for details".to_owned()),
        };
        let what = match error.message() {
            Some(message) => message.to_owned(),
            None => error.to_string(),
        };
        Self {
            code,
            message: format!("{what}\nhint: {advice}"),
        }
    }
}
