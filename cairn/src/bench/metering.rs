//! `cairn bench metering`: metered verification queries per second end to
//! end (a signed `VerifyDataHash` from a second process, checked, decided,
//! quoted and reserved against a prepaid balance, recorded, metered into the
//! meter, answered), against the same queries to a node whose metering is
//! switched off, in the same run.

use std::path::PathBuf;

use anchor_chaincode::Role;
use anchor_chaincode::billing::{Payment, Plan};
use anyhow::bail;
use clap::Args;

use crate::bench::access::{EndToEnd, Fixture, end_to_end};
use crate::bench::{Report, median};

#[derive(Args, Debug)]
pub(crate) struct MeteringBenchArgs {
    /// Queries sent by the load process per node and round.
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Verifiers with prepaid accounts that the queries are spread over.
    #[arg(long, default_value_t = 16)]
    verifiers: usize,
    /// Queries in flight from the load process.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the bench nodes' logs go (removed afterwards).
    #[arg(long, default_value = ".cairn-bench-metering")]
    data_dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// The plan of every bench account: prepaid, so each query is quoted and reserved.
const PLAN: Plan = Plan {
    price_per_query: 1,
    price_per_mib: 0,
    free_queries_per_month: 0,
    free_mib_per_month: 0,
    payment: Payment::Prepaid,
    rate_limit_per_second: 0,
};

pub(crate) fn run(args: MeteringBenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.queries == 0 || args.verifiers == 0 {
        bail!("--rounds, --queries and --verifiers must be at least 1");
    }
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let fixture = Fixture::new(
            &args.data_dir.join(format!("round-{round}-{}", std::process::id())),
            args.verifiers,
            Role::Verifier,
        )?;
        let accounts = fixture.accounts(&PLAN)?;
        let metered = EndToEnd { extra_setup: accounts.clone(), metering: true, verify: true };
        let unmetered = EndToEnd { extra_setup: accounts, metering: false, verify: true };
        // Alternate which goes first, so a machine warming up or slowing down favours neither.
        let run = |how: &EndToEnd, name: &str| {
            end_to_end(&fixture, args.queries, args.concurrency, name, how)
        };
        let (on, off) = if round % 2 == 0 {
            let on = run(&metered, "metered")?;
            (on, run(&unmetered, "unmetered")?)
        } else {
            let off = run(&unmetered, "unmetered")?;
            (run(&metered, "metered")?, off)
        };
        let _ = std::fs::remove_dir_all(&fixture.dir);
        // At one minor unit a query, the metered node charged exactly one per query.
        if on.3 != args.queries as u64 || off.3 != 0 {
            bail!(
                "the metered node charged {} for {} queries, the unmetered one {}",
                on.3,
                args.queries,
                off.3
            );
        }
        eprintln!(
            "round {}: metered {:.0} queries/s (p50 {:.2} ms, p99 {:.2} ms); unmetered {:.0} queries/s (p50 {:.2} ms, p99 {:.2} ms)",
            round + 1,
            on.0,
            on.1,
            on.2,
            off.0,
            off.1,
            off.2
        );
        rounds.push((on, off));
    }
    let _ = std::fs::remove_dir(&args.data_dir);
    let metered = median(rounds.iter().map(|(on, _)| on.0).collect());
    let metered_p50 = median(rounds.iter().map(|(on, _)| on.1).collect());
    let metered_p99 = median(rounds.iter().map(|(on, _)| on.2).collect());
    let unmetered = median(rounds.iter().map(|(_, off)| off.0).collect());
    let unmetered_p50 = median(rounds.iter().map(|(_, off)| off.1).collect());
    let ratio = median(rounds.iter().map(|(on, off)| on.0 / off.0).collect());
    Report::new("metering")
        .figure("metered", metered, 0, "queries/s")
        .figure("metered_p50", metered_p50, 2, "ms")
        .figure("metered_p99", metered_p99, 2, "ms")
        .figure("unmetered", unmetered, 0, "queries/s")
        .figure("unmetered_p50", unmetered_p50, 2, "ms")
        .ratio("metered_vs_unmetered", ratio, 0.8)
        .print(
            &format!(
                "cairn bench metering: {} rounds, {} queries per node from {} prepaid verifiers at concurrency {}, medians",
                args.rounds, args.queries, args.verifiers, args.concurrency
            ),
            args.json,
        );
    Ok(())
}
