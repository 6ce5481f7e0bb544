//! Request validation on arbitrary messages: the first byte picks the
//! request type, the rest is decoded as that protobuf message. Validation
//! never panics, only ever answers INVALID_ARGUMENT, and its message is one
//! line that starts with a field of that request.

#![no_main]

use accesskey_proto::pb;
use accesskey_server::{
    testing::DomainError,
    testing::validation::{AnyRequest, validate_request},
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn decode(kind: u8, bytes: &[u8]) -> Option<(AnyRequest, &'static [&'static str])> {
    Some(match kind % 8 {
        0 => (
            AnyRequest::CreateUser(pb::CreateUserRequest::decode(bytes).ok()?),
            &[
                "username",
                "email",
                "display_name",
                "identity_provider",
                "permissions",
            ],
        ),
        1 => (
            AnyRequest::GetUser(pb::GetUserRequest::decode(bytes).ok()?),
            &["user", "user_id", "username"],
        ),
        2 => (
            AnyRequest::ListUsers(pb::ListUsersRequest::decode(bytes).ok()?),
            &["page_size", "page_token", "username_prefix"],
        ),
        3 => (
            AnyRequest::UpdateUser(Box::new(pb::UpdateUserRequest::decode(bytes).ok()?)),
            &[
                "user",
                "update_mask",
                "email",
                "display_name",
                "permissions",
                "disabled",
            ],
        ),
        4 => (
            AnyRequest::DeleteUser(pb::DeleteUserRequest::decode(bytes).ok()?),
            &["user_id", "etag"],
        ),
        5 => (
            AnyRequest::GenerateAccessKey(pb::GenerateAccessKeyRequest::decode(bytes).ok()?),
            &["user_id", "expire_time"],
        ),
        6 => (
            AnyRequest::RevokeAccessKey(pb::RevokeAccessKeyRequest::decode(bytes).ok()?),
            &["user_id"],
        ),
        _ => (
            AnyRequest::VerifyAccessKey(pb::VerifyAccessKeyRequest::decode(bytes).ok()?),
            &["required_permissions"],
        ),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let Some((request, fields)) = decode(kind, bytes) else {
        return;
    };
    match validate_request(request) {
        Ok(()) => {}
        Err(DomainError::InvalidArgument(invalid)) => {
            let message = invalid.to_string();
            assert!(
                fields.iter().any(|field| message.starts_with(field)),
                "the message names a field of the request: {message:?}"
            );
            assert!(
                !message.chars().any(char::is_control),
                "the message is one printable line: {message:?}"
            );
        }
        Err(other) => panic!("validation answered something else than INVALID_ARGUMENT: {other}"),
    }
});
