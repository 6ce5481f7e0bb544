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

use tonic::{Request, Status};

use crate::limits;

/// Refuses a call whose metadata exceeds [`limits::MAX_METADATA_BYTES`],
/// counted as HTTP/2 counts a header list (RFC 9113 §6.5.2: name, value
/// and 32 bytes per field).
pub(crate) fn limit_metadata(request: Request<()>) -> Result<Request<()>, Status> {
    let size: usize = request
        .metadata()
        .as_ref()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    if size > limits::MAX_METADATA_BYTES {
        return Err(Status::resource_exhausted(format!(
            "request metadata is {size} bytes; at most {} are accepted",
            limits::MAX_METADATA_BYTES
        )));
    }
    Ok(request)
}
