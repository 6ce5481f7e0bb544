//! Which permissions a request path needs, and which paths are refused as
//! ambiguous.

/// Whether `prefix` covers `path` by whole segments: the same path, or
/// `path` continues after it with a `/` (or `prefix` itself ends with one).
pub(super) fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// Whether `path` could mean something other than it says to some server
/// behind the layer: an empty segment (`//`), a `.` or `..` segment (plain
/// or percent-encoded), or an encoded slash or backslash. Such a path is
/// refused rather than guessed at.
pub(super) fn is_ambiguous(path: &str) -> bool {
    let lowered = path.to_ascii_lowercase();
    if lowered.contains("%2f") || lowered.contains("%5c") || path.contains('\\') {
        return true;
    }
    let segments: Vec<&str> = lowered.split('/').skip(1).collect();
    segments.iter().enumerate().any(|(at, segment)| {
        let decoded = segment.replace("%2e", ".");
        decoded == "." || decoded == ".." || (segment.is_empty() && at + 1 < segments.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_whole_segments_only() {
        assert!(covers("/healthz", "/healthz"));
        assert!(covers("/healthz", "/healthz/live"));
        assert!(!covers("/healthz", "/healthz-debug"));
        assert!(covers(
            "/grpc.health.v1.Health/",
            "/grpc.health.v1.Health/Check"
        ));
        assert!(!covers(
            "/orders.v1.Orders/Cancel",
            "/orders.v1.Orders/CancelAll"
        ));
        assert!(covers("/", "/anything"));
    }

    #[test]
    fn ambiguous_paths_are_told_apart() {
        for bad in [
            "//orders",
            "/a//b",
            "/./orders",
            "/a/../b",
            "/a/..",
            "/a/%2e%2E/b",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
        ] {
            assert!(is_ambiguous(bad), "{bad}");
        }
        for good in [
            "/",
            "/orders",
            "/orders/",
            "/orders/7",
            "/a.b/c..d",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!is_ambiguous(good), "{good}");
        }
    }
}
