//! `cairn bench ods`: the chunk → SHA-256 → AES-256-GCM stage and the whole
//! durable sync, each against the reference the ODS issue names, measured in
//! the same run on the same machine.
//!
//! - `crypto_vs_limit`: the in-memory seal stage on all cores against
//!   2 / (1/SHA-256 rate + 1/AES-256-GCM rate), both single-core raw rates of
//!   the fastest implementations available (ring's and RustCrypto's AES-GCM
//!   are both measured; the faster one is the limit's and the pipeline's).
//! - `pipeline_vs_copy`: file → sealed object in the local store, fsynced,
//!   against `cp` of the same file to the same disk followed by `sync`.
//! - `pipeline_vs_openssl_sha256_then_age`: the same sync against
//!   `openssl dgst -sha256` followed by `age` encrypting to an X25519 recipient.
//! - `pg_sync_vs_copy`: rows per second of a PostgreSQL full sync (snapshot →
//!   seal → store) against a plain `COPY … TO STDOUT` discarded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use ods_frontend::aead::{DataKey, ring_cipher, rustcrypto_cipher};
use ods_frontend::bench::{measure_cipher, measure_sha256, seal_in_memory};
use ods_frontend::pipeline::PipelineConfig;
use ods_frontend::store::SealedStore;

use crate::bench::{Report, median};

#[derive(Args, Debug)]
pub(crate) struct OdsBenchArgs {
    /// Input size in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the input, the store and the copies go (on the disk to measure; removed afterwards).
    #[arg(long, default_value = ".cairn-bench-ods")]
    data_dir: PathBuf,
    /// PostgreSQL for pg_sync_vs_copy (a scratch database is created and dropped).
    #[arg(
        long,
        env = "CAIRN_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
    /// Rows in the PostgreSQL table.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn write_input(path: &Path, size: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < size {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block)?;
        written += block.len() as u64;
    }
    file.flush()?;
    file.get_ref().sync_all()?;
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<f64> {
    let start = Instant::now();
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Seals `reader` into a new object of `store`; returns (seconds, plaintext bytes).
async fn sync_to_store(
    reader: Box<dyn std::io::Read + Send>,
    store: &SealedStore,
    path: &str,
) -> anyhow::Result<(f64, u64)> {
    let start = Instant::now();
    let key = DataKey::generate()?;
    let (summary, _) = ods_frontend::transfer::seal_to_store(
        store,
        path,
        reader,
        std::sync::Arc::from(ring_cipher(&key)),
        PipelineConfig::default(),
    )
    .await?;
    Ok((start.elapsed().as_secs_f64(), summary.plaintext_bytes))
}

struct PgFigures {
    sync_rows_per_s: f64,
    copy_rows_per_s: f64,
}

#[cfg(feature = "pg")]
/// A connection over TLS when the URL asks for it (see `connectors::pg_tls`).
async fn pg_connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (config, tls) = connectors::pg_tls::connect_config(url)?;
    let (client, connection) = config.connect(tls).await?;
    drop(tokio::spawn(connection));
    Ok(client)
}

/// A build without the pg feature measures no PostgreSQL round.
#[cfg(not(feature = "pg"))]
async fn postgres_round(_: &OdsBenchArgs, _: &SealedStore, _: usize) -> anyhow::Result<PgFigures> {
    Err(crate::features::missing("pg"))
}

#[cfg(feature = "pg")]
async fn postgres_round(
    args: &OdsBenchArgs,
    store: &SealedStore,
    round: usize,
) -> anyhow::Result<PgFigures> {
    if crate::secrets::from_command_line(Some(&args.postgres), "CAIRN_BENCH_PG_URL") {
        crate::secrets::refuse_password_on_command_line("--postgres", &args.postgres)?;
    }
    let admin = pg_connect(&crate::secrets::with_password(&args.postgres)?)
        .await
        .with_context(|| "cannot reach PostgreSQL for pg_sync_vs_copy (set --postgres)")?;
    let name = format!("cairn_bench_ods_{}", std::process::id());
    if round == 0 {
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    }
    // The scratch database in place of the URL's, its parameters (sslmode …) kept.
    let (base, query) = match args.postgres.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (args.postgres.as_str(), String::new()),
    };
    let url =
        base.rsplit_once('/').map(|(base, _)| format!("{base}/{name}{query}")).unwrap_or_default();
    let url = crate::secrets::with_password(&url)?;
    if round == 0 {
        let db = pg_connect(&url).await?;
        db.batch_execute(&format!(
            "CREATE TABLE citizens (id bigint PRIMARY KEY, name text, district text, born date, updated_at timestamptz);
             INSERT INTO citizens SELECT i, 'citizen ' || i, 'district ' || (i % 97), DATE '1950-01-01' + (i % 20000), TIMESTAMPTZ '2026-01-01' + i * interval '1 second'
             FROM generate_series(1, {}) i;
             ANALYZE citizens;",
            args.rows
        ))
        .await?;
    }
    let selection =
        connectors::source::pg::Selection::Table { schema: None, table: "citizens".into() };
    let start = Instant::now();
    let (rows, _) = connectors::source::pg::copy_to_sink(&url, &selection).await?;
    let copy_seconds = start.elapsed().as_secs_f64();
    let share =
        connectors::source::pg::PgShare { url: url.clone(), selection, watermark_column: None };
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let start = Instant::now();
    let snapshot = tokio::spawn(async move {
        connectors::source::pg::snapshot(&share, connectors::source::pg::Format::Csv, None, writer)
            .await
    });
    let reader: Box<dyn std::io::Read + Send> = Box::new(tokio_util::io::SyncIoBridge::new(reader));
    let (_, _) = sync_to_store(reader, store, &format!("bench/pg-{round}.ods")).await?;
    let outcome = snapshot.await.map_err(|e| anyhow::format_err!("snapshot task: {e}"))??;
    let sync_seconds = start.elapsed().as_secs_f64();
    if outcome.rows != rows {
        bail!("the sync saw {} rows, COPY {rows}", outcome.rows);
    }
    Ok(PgFigures {
        sync_rows_per_s: rows as f64 / sync_seconds,
        copy_rows_per_s: rows as f64 / copy_seconds,
    })
}

/// A build without the pg feature made no database.
#[cfg(not(feature = "pg"))]
async fn drop_bench_database(_: &OdsBenchArgs) {}

#[cfg(feature = "pg")]
async fn drop_bench_database(args: &OdsBenchArgs) {
    if let Ok((admin, connection)) =
        tokio_postgres::connect(&args.postgres, tokio_postgres::NoTls).await
    {
        drop(tokio::spawn(connection));
        let name = format!("cairn_bench_ods_{}", std::process::id());
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}

pub(crate) fn run_bench(args: OdsBenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.size_mib == 0 {
        bail!("--rounds and --size-mib must be at least 1");
    }
    let dir = std::path::absolute(&args.data_dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let size = args.size_mib << 20;
    let input = dir.join("input.bin");
    write_input(&input, size)?;
    let data = std::fs::read(&input)?;
    let have_age = Command::new("age").arg("--version").output().is_ok_and(|o| o.status.success());
    let recipient = if have_age {
        let key_file = dir.join("age.key");
        let _ = std::fs::remove_file(&key_file);
        let output = Command::new("age-keygen").arg("-o").arg(&key_file).output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        text.lines().find_map(|l| l.strip_prefix("Public key: ")).map(str::to_string)
    } else {
        eprintln!(
            "age is not installed (apt-get install age): pipeline_vs_openssl_sha256_then_age is not measured"
        );
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let store_dir = dir.join("store");
    let store = SealedStore::from_url(&format!("file://{}", store_dir.display()), &[])?;

    let mut sha = Vec::new();
    let mut ring_rate = Vec::new();
    let mut rustcrypto_rate = Vec::new();
    let mut stage = Vec::new();
    let mut pipeline = Vec::new();
    let mut copy = Vec::new();
    let mut peers = Vec::new();
    let mut pg = Vec::new();
    let mut pg_error = None;
    for round in 0..args.rounds {
        let key = DataKey::generate()?;
        let sample = &data[..data.len().min(256 << 20)];
        sha.push(measure_sha256(sample));
        let mut buffer = sample.to_vec();
        ring_rate.push(measure_cipher(ring_cipher(&key).as_ref(), &mut buffer)?);
        let mut buffer = sample.to_vec();
        rustcrypto_rate.push(measure_cipher(rustcrypto_cipher(&key).as_ref(), &mut buffer)?);
        stage.push(seal_in_memory(&data, ring_cipher(&key).as_ref(), &PipelineConfig::default())?);

        let file: Box<dyn std::io::Read + Send> =
            Box::new(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&input)?));
        let (seconds, bytes) =
            runtime.block_on(sync_to_store(file, &store, &format!("bench/file-{round}.ods")))?;
        pipeline.push(bytes as f64 / seconds);

        let copy_target = dir.join(format!("copy-{round}.bin"));
        let seconds = run(Command::new("sh").arg("-c").arg(format!(
            "cp '{}' '{}' && sync",
            input.display(),
            copy_target.display()
        )))?;
        copy.push(size as f64 / seconds);
        let _ = std::fs::remove_file(&copy_target);

        if let Some(recipient) = &recipient {
            let age_target = dir.join(format!("age-{round}.age"));
            let seconds = run(Command::new("openssl").arg("dgst").arg("-sha256").arg(&input))?
                + run(Command::new("age")
                    .arg("-r")
                    .arg(recipient)
                    .arg("-o")
                    .arg(&age_target)
                    .arg(&input))?;
            peers.push(size as f64 / seconds);
            let _ = std::fs::remove_file(&age_target);
        }
        match runtime.block_on(postgres_round(&args, &store, round)) {
            Ok(figures) => pg.push(figures),
            Err(e) => pg_error = Some(e.to_string()),
        }
        eprintln!(
            "round {}: stage {:.0} MB/s, sync {:.0} MB/s, cp+sync {:.0} MB/s{}",
            round + 1,
            stage[round] / 1e6,
            pipeline[round] / 1e6,
            copy[round] / 1e6,
            peers
                .get(round)
                .map_or(String::new(), |p| format!(", openssl+age {:.0} MB/s", p / 1e6))
        );
    }
    runtime.block_on(drop_bench_database(&args));
    let _ = std::fs::remove_dir_all(&dir);

    let sha = median(sha);
    let ring_rate = median(ring_rate);
    let rustcrypto_rate = median(rustcrypto_rate);
    let aes = ring_rate.max(rustcrypto_rate);
    let limit = 2.0 / (1.0 / sha + 1.0 / aes);
    let stage = median(stage);
    let pipeline = median(pipeline);
    let copy = median(copy);
    let mut report = Report::new("ods");
    let _ = report
        .figure("sha256_single_core", sha / 1e6, 1, "MB/s")
        .figure("aes256gcm_ring_single_core", ring_rate / 1e6, 1, "MB/s")
        .figure("aes256gcm_rustcrypto_single_core", rustcrypto_rate / 1e6, 1, "MB/s")
        .figure("crypto_limit_two_cores", limit / 1e6, 1, "MB/s")
        .figure("seal_stage_in_memory", stage / 1e6, 1, "MB/s")
        .figure("sync_file_to_local_store", pipeline / 1e6, 1, "MB/s")
        .figure("cp_then_sync", copy / 1e6, 1, "MB/s")
        .ratio("crypto_vs_limit", stage / limit, 0.8)
        .ratio("pipeline_vs_copy", pipeline / copy, 0.7);
    if !peers.is_empty() {
        let peers = median(peers);
        let _ = report.figure("openssl_sha256_then_age", peers / 1e6, 1, "MB/s").ratio(
            "pipeline_vs_openssl_sha256_then_age",
            pipeline / peers,
            1.5,
        );
    }
    if !pg.is_empty() {
        let sync_rows = median(pg.iter().map(|p| p.sync_rows_per_s).collect());
        let copy_rows = median(pg.iter().map(|p| p.copy_rows_per_s).collect());
        let _ = report
            .figure("pg_full_sync", sync_rows, 1, "rows/s")
            .figure("pg_copy_to_devnull", copy_rows, 1, "rows/s")
            .ratio("pg_sync_vs_copy", sync_rows / copy_rows, 0.8);
    } else if let Some(error) = &pg_error {
        eprintln!("pg_sync_vs_copy not measured: {error}");
    }
    report.print(
        &format!(
            "cairn bench ods: {} MiB input, {} rounds, {} PostgreSQL rows, medians",
            args.size_mib, args.rounds, args.rows
        ),
        args.json,
    );
    Ok(())
}
