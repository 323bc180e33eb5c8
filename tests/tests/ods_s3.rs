//! The ODS on S3: a share synced into a signature-checking S3 server
//! (`s3s-fs` on loopback) and fetched back through the node, byte for byte.
//!
//! `s3s-fs` is installed by `scripts/test` and found by `cairn_tests::support`;
//! without it the test fails under `CAIRN_REQUIRE_SERVICES=1` and is skipped
//! with a loud message otherwise.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::{cairn_command, support};

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str], envs: &[(&str, String)]) -> (bool, String, String) {
    let mut command = cairn_command();
    let _ = command.args(args);
    for (key, value) in envs {
        let _ = command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn a_share_round_trips_through_an_s3_store() {
    let Some(server) = support::s3s_fs() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("s3/cairn-bucket")).unwrap();
    let port = cairn_tests::free_port();
    let _s3 = Killed(
        Command::new(server)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                "CAIRNTEST",
                "--secret-key",
                "cairn-secret",
            ])
            .arg(dir.path().join("s3"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let envs = vec![
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "CAIRNTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "cairn-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ];
    let data = dir.path().join("node");
    let mut up = cairn_command();
    let _ = up
        .args([
            "up",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--ods-store",
            "s3://cairn-bucket/ods",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in &envs {
        let _ = up.env(key, value);
    }
    let mut node = Killed(up.spawn().unwrap());
    let stdout = node.0.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut address = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            address = rest.split_whitespace().next().unwrap().to_string();
        }
        if line.contains(" is up on ") {
            break;
        }
    }
    let url = format!("http://{address}");
    let input = dir.path().join("input.bin");
    let bytes: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&input, &bytes).unwrap();
    let consumer = data.join("demo/civil-consumer.key");
    let (ok, out, err) = run(&["key", "show", consumer.to_str().unwrap(), "--json"], &envs);
    assert!(ok, "{err}");
    let address_of_consumer = serde_json::from_str::<serde_json::Value>(&out).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, _, err) = run(
        &[
            "share",
            "create",
            "s3file",
            "--asset-id",
            "health/s3-file",
            "--key",
            data.join("demo/health-provider.key").to_str().unwrap(),
            "--file",
            input.to_str().unwrap(),
            "--format",
            "raw",
            "--authorise",
            &address_of_consumer,
            "--store",
            "s3://cairn-bucket/ods",
            "--chunk-size",
            "1048576",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &envs,
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(
        &["sync", "s3file", "--quiet", "--node", &url, "--data-dir", data.to_str().unwrap()],
        &envs,
    );
    assert!(ok, "sync to S3 failed: {out}{err}");
    let output = dir.path().join("fetched.bin");
    let (ok, out, err) = run(
        &[
            "data",
            "fetch",
            "health/s3-file",
            "--key",
            consumer.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
            "--node",
            &url,
        ],
        &envs,
    );
    assert!(ok, "fetch from S3 failed: {out}{err}");
    assert!(std::fs::read(&output).unwrap() == bytes, "the fetched bytes differ");
    // The objects really are in the S3 server's directory, not on the node's disk.
    assert!(!data.join("ods/objects/objects").exists(), "the node wrote objects locally");
}
