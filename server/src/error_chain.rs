//! An error with its causes, each said once: the one way accesskeyd prints
//! an error, in logs (`a: b: c`) and on its command line (`error: a`, then
//! `  caused by: b` per line).
//!
//! Every error type here keeps its cause as `source()` instead of pasting
//! it into its own text, so nothing is lost and nothing repeats. Errors
//! from other crates do not all follow that rule (sqlx's I/O error, for
//! one, prints its `io::Error` and returns it as the source too), so a
//! cause whose text the previous one already ends with is skipped.

use std::{error::Error, fmt};

/// `error` and its `source()` chain, for `Display`: inline with `{}`,
/// one cause per line with `{:#}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

impl ErrorChain<'_> {
    /// The texts of the error and its causes, in order, without repeats.
    fn texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = vec![self.0.to_string()];
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            let said = texts
                .last()
                .is_some_and(|previous| previous.ends_with(&text));
            if !said && !text.is_empty() {
                texts.push(text);
            }
            cause = error.source();
        }
        texts
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts = self.texts();
        if f.alternate() {
            let mut lines = texts.iter();
            if let Some(first) = lines.next() {
                write!(f, "error: {first}")?;
            }
            for cause in lines {
                write!(f, "\n  caused by: {cause}")?;
            }
            Ok(())
        } else {
            f.write_str(&texts.join(": "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the database sqlite://x.db")]
    struct Opening(#[source] Wrapped);

    /// Like sqlx's I/O error: its text already holds its source's.
    #[derive(Debug, thiserror::Error)]
    #[error("error communicating with database: {0}")]
    struct Wrapped(#[source] io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let error = Opening(Wrapped(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        )));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "cannot open the database sqlite://x.db: \
             error communicating with database: Connection refused (os error 111)"
        );
        assert_eq!(
            format!("{:#}", ErrorChain(&error)),
            "error: cannot open the database sqlite://x.db\n  \
             caused by: error communicating with database: Connection refused (os error 111)"
        );
    }

    #[test]
    fn an_error_without_causes_is_one_line() {
        let error = io::Error::other("disk full");
        assert_eq!(format!("{:#}", ErrorChain(&error)), "error: disk full");
    }
}
