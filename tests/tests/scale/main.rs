//! The scaled mode on real engines: a Kafka-protocol broker (nisshi, started
//! by scripts/test) and PostgreSQL.
//!
//! - The projector is killed with SIGKILL at random points while it works
//!   through a large access-event backlog; after it catches up, every
//!   projection equals `cairn replay --from-start` and no event is missing or
//!   counted twice.
//! - Two nodes on one ledger topic derive identical blocks and state roots.
//! - Three nodes cosign checkpoints; a quorum of two makes them final, a node
//!   that is down does not block it, and a forged cosignature raises the
//!   divergence alarm.
//! - An access event logged and anchored by a node that is then killed is
//!   proven by another node from the first one's signed records on the
//!   access-event topic, under quorum; made-up events are refused.
//! - The broker is killed and restarted (on PostgreSQL storage) while
//!   transactions are submitted: no acknowledged transaction is lost.
//!
//! The services are found through `cairn_tests::support`: under
//! `CAIRN_REQUIRE_SERVICES=1` a missing broker or database fails the tests;
//! otherwise they are skipped with a loud message.

mod access_any_node;
mod consortium;
mod env;
mod ledger;
mod projection;
