//! Support crate for the end-to-end tests; the tests live in `e2e/`.
