//! What ListUsers and ListAuditEvents share: page sizes, and pages cut to
//! a response-size budget.

/// Page sizes: 0 asks for the default; larger ones are capped.
const DEFAULT_PAGE_SIZE: u64 = 50;
const MAX_PAGE_SIZE: u64 = 1_000;
/// A page holds at most about this many bytes (and at least one item): a
/// quarter of the 16 MiB response limit.
pub(super) const MAX_PAGE_BYTES: usize = 4 << 20;

/// The items a page of `page_size` holds at most.
pub(super) fn page_limit(page_size: u64) -> u64 {
    match page_size {
        0 => DEFAULT_PAGE_SIZE,
        size => size.min(MAX_PAGE_SIZE),
    }
}

/// How many of `items`, from the first, fit in `budget` bytes of response
/// (at least one), each estimated by `size`.
pub(super) fn fitting<T>(items: &[T], budget: usize, size: impl Fn(&T) -> usize) -> usize {
    let mut used = 0;
    items
        .iter()
        .take_while(|item| {
            let size = size(item);
            used += size;
            used <= budget || used == size
        })
        .count()
}

/// Cuts `items`, read with one more than `limit` (the extra one tells
/// whether another page exists), to a page of at most `limit` items and
/// [`MAX_PAGE_BYTES`]. Returns whether items were left for a next page.
pub(super) fn cut_page<T>(items: &mut Vec<T>, limit: u64, size: impl Fn(&T) -> usize) -> bool {
    let kept =
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(fitting(items, MAX_PAGE_BYTES, size));
    let more = items.len() > kept;
    items.truncate(kept);
    more
}
