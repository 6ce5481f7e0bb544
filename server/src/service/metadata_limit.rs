//! The request-metadata limit, enforced here rather than by HTTP/2.
//!
//! HTTP/2 can only refuse an oversized header list its own way: up to its
//! `SETTINGS_MAX_HEADER_LIST_SIZE` it answers HTTP 431 with no
//! `grpc-status` (clients see UNKNOWN), and well past it (4× in h2) it
//! closes the whole connection with GOAWAY, failing every other call on
//! it. So the transport limit is set high
//! ([`limits::HTTP2_MAX_HEADER_LIST_BYTES`]) and the real one
//! ([`limits::MAX_METADATA_BYTES`]) is checked on each call: an oversized
//! call fails alone, with RESOURCE_EXHAUSTED naming the limit.
//!
//! A gRPC status means nothing to a browser (it saves the empty
//! `application/grpc` reply as a file), so requests that are not gRPC
//! pass here and the console answers them with a 431 page of its own.

use http::{HeaderMap, header};
use tonic::{Request, Status};

use crate::limits;

/// A header list's size as HTTP/2 counts it (RFC 9113 §6.5.2: name, value
/// and 32 bytes per field).
pub(crate) fn header_list_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// A gRPC or gRPC-Web call, told apart from a browser's request by its
/// content type, as tonic's own router does.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/grpc"))
}

/// Refuses a gRPC call whose metadata exceeds [`limits::MAX_METADATA_BYTES`].
pub(crate) fn limit_metadata(request: Request<()>) -> Result<Request<()>, Status> {
    let headers = request.metadata().as_ref();
    if !is_grpc(headers) {
        return Ok(request);
    }
    let size = header_list_size(headers);
    if size > limits::MAX_METADATA_BYTES {
        return Err(Status::resource_exhausted(format!(
            "request metadata is {size} bytes; at most {} are accepted",
            limits::MAX_METADATA_BYTES
        )));
    }
    Ok(request)
}
