//! The flags of `cairn project` and `cairn replay`, and the commands, which
//! need both the kafka and the pg features (`project.rs`).

use clap::Args;

use crate::node::scale::ScaleArgs;

/// `cairn project`.
#[derive(Args, Debug)]
#[cfg_attr(not(all(feature = "kafka", feature = "pg")), allow(dead_code))]
pub(crate) struct ProjectArgs {
    #[command(flatten)]
    pub(crate) scale: ScaleArgs,
    /// Stop once everything in the logs at start is projected.
    #[arg(long)]
    pub(crate) exit_when_caught_up: bool,
    /// A stable id of this projector in the consumer group (static
    /// membership: a restarted projector resumes its partitions at once).
    /// Give each projector its own.
    #[arg(long, env = "CAIRN_PROJECTOR_ID")]
    pub(crate) member_id: Option<String>,
}

/// `cairn replay`.
#[derive(Args, Debug)]
#[cfg_attr(not(all(feature = "kafka", feature = "pg")), allow(dead_code))]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) scale: ScaleArgs,
    /// Rebuild from the first record of every log (the only mode there is; required to say so).
    #[arg(long, required = true)]
    pub(crate) from_start: bool,
    /// Keep the rebuilt schema (SCHEMA_replay) for inspection.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Most differing rows shown per table.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `cairn project` in a build without Kafka or PostgreSQL.
#[cfg(not(all(feature = "kafka", feature = "pg")))]
pub(crate) fn project(_: ProjectArgs) -> anyhow::Result<()> {
    missing()
}

/// `cairn replay` in a build without Kafka or PostgreSQL.
#[cfg(not(all(feature = "kafka", feature = "pg")))]
pub(crate) fn replay(_: ReplayArgs) -> anyhow::Result<bool> {
    missing()
}

/// The error naming the feature this build lacks.
#[cfg(not(all(feature = "kafka", feature = "pg")))]
fn missing<T>() -> anyhow::Result<T> {
    crate::features::need("kafka")?;
    crate::features::need("pg")?;
    Err(anyhow::format_err!("cairn project and cairn replay need the kafka and pg features"))
}
