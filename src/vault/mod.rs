//! vault (filled in by its issue).
