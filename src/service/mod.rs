//! service (filled in by its issue).
