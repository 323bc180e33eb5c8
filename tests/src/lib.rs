//! End-to-end tests of Cairn live in `tests/`; this library is empty.
