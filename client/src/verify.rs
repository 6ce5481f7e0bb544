//! Key verification (`KeyAuth`): the answer to "is this key genuine, and
//! may its user do this?", and the caller's own principal.

use crate::{
    Client, Error, pb,
    retry::{Repeat, with_retries},
};

/// The answer to "is this key genuine, and may its user do this?".
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// Genuine, current, and its user holds every required permission.
    Valid(pb::Principal),
    /// Not shaped like an access key (or a typo broke its checksum).
    Malformed,
    /// Unknown, revoked or replaced, or the secret is wrong.
    NotFound,
    /// Genuine but expired.
    Expired(pb::Principal),
    /// Genuine but its user is disabled.
    UserDisabled(pb::Principal),
    /// Genuine, but its user lacks these permissions.
    PermissionDenied {
        /// Whose key it is.
        principal: pb::Principal,
        /// The required permissions the user does not hold.
        missing: Vec<String>,
    },
}

impl Verification {
    /// Whether the key may be let in.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid(_))
    }

    fn from_response(response: pb::VerifyAccessKeyResponse) -> Result<Self, Error> {
        use pb::VerifyResult;
        let pb::VerifyAccessKeyResponse {
            result,
            principal,
            missing_permissions,
        } = response;
        let principal = || principal.clone().ok_or(Error::MissingField("principal"));
        Ok(
            match VerifyResult::try_from(result).unwrap_or(VerifyResult::Unspecified) {
                VerifyResult::Valid => Self::Valid(principal()?),
                VerifyResult::Malformed => Self::Malformed,
                VerifyResult::NotFound => Self::NotFound,
                VerifyResult::Expired => Self::Expired(principal()?),
                VerifyResult::UserDisabled => Self::UserDisabled(principal()?),
                VerifyResult::PermissionDenied => Self::PermissionDenied {
                    principal: principal()?,
                    missing: missing_permissions,
                },
                VerifyResult::Unspecified => return Err(Error::MissingField("result")),
            },
        )
    }
}

/// Key verification (`KeyAuth`).
impl Client {
    /// Whether `access_key` is genuine and its user holds all of `required`.
    /// An invalid key is an `Ok` answer; `Err` means the call itself failed.
    /// Needs `keys.verify`.
    pub async fn verify<I, S>(&self, access_key: &str, required: I) -> Result<Verification, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let request = pb::VerifyAccessKeyRequest {
            access_key: access_key.to_owned(),
            required_permissions: required.into_iter().map(Into::into).collect(),
        };
        let response = with_retries(self.retry, Repeat::Safe, || {
            let mut auth = self.auth.clone();
            let request = request.clone();
            async move { auth.verify_access_key(request).await }
        })
        .await?;
        Verification::from_response(response.into_inner())
    }

    /// The principal behind the caller's own key.
    pub async fn who_am_i(&self) -> Result<pb::Principal, Error> {
        let response = with_retries(self.retry, Repeat::Safe, || {
            let mut auth = self.auth.clone();
            async move { auth.who_am_i(pb::WhoAmIRequest {}).await }
        })
        .await?;
        response
            .into_inner()
            .principal
            .ok_or(Error::MissingField("principal"))
    }
}
