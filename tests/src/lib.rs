//! End-to-end tests for Census live in `tests/`; this library only hosts shared helpers.
