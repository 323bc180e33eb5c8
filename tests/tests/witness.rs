//! An outside witness (`cairn witness serve`, C2SP tlog-witness) next to a
//! demo node: `cairn checkpoint --quorum --witness` gets its cosignature, a
//! trusted-keys file with `quorum 2` counts it as a member, and a second
//! checkpoint of the cosigned size with another root, signed with the
//! node's own key, is refused: a split view caught by the witness.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::checkpoint::{Checkpoint, NoteSigner};
use cairn_tests::{Node, Start, WITNESS_NAME, Witness, arg, on};
use serde_json::Value;

/// Posts a raw `add-checkpoint` body and returns the status and body.
fn post(addr: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connects to the witness");
    write!(
        stream,
        "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).expect("reads the answer");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn an_outside_witness_cosigns_and_catches_a_split_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(&dir.path().join("node"), Start::Demo).expect("demo node");
    let info = on(&node, &["node", "info", "--json"]);
    let info = info.assert_success().json();
    let log_vkey = info["verifier_key"].as_str().expect("verifier key").to_owned();
    let origin = info["origin"].as_str().expect("origin").to_owned();

    let witness = Witness::start(dir.path(), &[&log_vkey], "127.0.0.1:0").expect("witness");
    let (witness_vkey, witness_addr) = (witness.vkey().to_owned(), witness.addr().to_owned());

    // The consortium's cosigner keys (the demo node alone), the witness, quorum 2.
    let consortium = dir.path().join("consortium.keys");
    let _ =
        on(&node, &["node", "agreement", "--trusted-keys-out", arg(&consortium)]).assert_success();
    let mut trusted = String::from("quorum 2\n");
    for line in std::fs::read_to_string(&consortium).expect("keys").lines() {
        if !line.starts_with('#') && !line.starts_with("quorum") && !line.is_empty() {
            trusted.push_str(line);
            trusted.push('\n');
        }
    }
    trusted.push_str(&witness_vkey);
    trusted.push('\n');
    let trusted_path = dir.path().join("trusted.keys");
    std::fs::write(&trusted_path, &trusted).expect("writes the trusted keys");

    // The node's own quorum checkpoint appears once it cosigned its newest block.
    let url = format!("http://{witness_addr}");
    let out = dir.path().join("witnessed.note");
    let deadline = Instant::now() + Duration::from_secs(60);
    let view: Value = loop {
        let run = on(
            &node,
            &[
                "checkpoint",
                "--quorum",
                "--witness",
                &url,
                "--trusted-keys",
                arg(&trusted_path),
                "--out",
                arg(&out),
                "--json",
            ],
        );
        if run.success() {
            break run.json();
        }
        assert!(Instant::now() < deadline, "never witnessed: {}", run.describe());
        std::thread::sleep(Duration::from_millis(500));
    };
    let signers = view["verified_signers"].as_array().expect("verified signers");
    assert_eq!(signers.len(), 2, "{view}");
    assert!(signers.iter().any(|s| s == WITNESS_NAME), "{view}");
    let note = std::fs::read_to_string(&out).expect("the witnessed note");
    assert!(note.contains("\n— auditor.example/witness "), "{note}");
    let size = view["tree_size"].as_u64().expect("size");

    // Asking again: the witness already holds this size, answers 409 with
    // it, and the client retries from there.
    let again = on(
        &node,
        &[
            "checkpoint",
            "--quorum",
            "--witness",
            &url,
            "--trusted-keys",
            arg(&trusted_path),
            "--json",
        ],
    );
    assert_eq!(again.assert_success().json()["verified_signers"].as_array().map(Vec::len), Some(2));

    // A stale old size is a conflict that names the witness's size.
    let (status, body) = post(&witness_addr, &format!("old 0\n\n{note}"));
    assert_eq!((status, body.trim_end()), (409, size.to_string().as_str()));

    // The node key signs a second checkpoint of the same size with another root.
    let key = KeyPair::load(&node.data_dir().join("node.key")).expect("the node key");
    let forger = NoteSigner::new(&origin, *key.signing_key().as_bytes()).expect("signer");
    assert_eq!(forger.verifier_key(), log_vkey, "the node key is the log key");
    let forged = forger.sign(&Checkpoint { origin, size, root: [0xAB; 32], extensions: vec![] });
    let (status, body) = post(&witness_addr, &format!("old {size}\n\n{forged}"));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("SPLIT VIEW"), "{body}");

    // A note the log did not sign is forbidden; garbage is a bad request.
    let stranger = NoteSigner::new(forger.name(), [3; 32]).expect("stranger");
    let (status, _) = post(
        &witness_addr,
        &format!(
            "old {size}\n\n{}",
            stranger.sign(&Checkpoint {
                origin: forger.name().to_owned(),
                size,
                root: [0xAB; 32],
                extensions: vec![]
            },)
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(post(&witness_addr, "hello").0, 400);
}

/// The consortium's cosigner keys as `node agreement` writes them, the
/// witness's key, and `quorum 2`.
fn trusted_with_witness(
    node: &Node,
    dir: &std::path::Path,
    witness_vkey: &str,
) -> std::path::PathBuf {
    let consortium = dir.join("consortium.keys");
    let _ =
        on(node, &["node", "agreement", "--trusted-keys-out", arg(&consortium)]).assert_success();
    let mut trusted = String::from("quorum 2\n");
    for line in std::fs::read_to_string(&consortium).expect("keys").lines() {
        if !line.starts_with('#') && !line.starts_with("quorum") && !line.is_empty() {
            trusted.push_str(line);
            trusted.push('\n');
        }
    }
    trusted.push_str(witness_vkey);
    trusted.push('\n');
    let path = dir.join("trusted-with-witness.keys");
    std::fs::write(&path, &trusted).expect("writes the trusted keys");
    path
}

/// A node started with `--witness URL` pushes its quorum checkpoints to the
/// witness itself, even when the witness comes up after it: a client whose
/// trusted keys require the witness accepts the node's checkpoint without
/// asking the witness. A bad witness URL is refused at start.
#[test]
fn a_node_pushes_its_quorum_checkpoints_to_its_witness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = Node::start_with_args(
        &dir.path().join("bad"),
        Start::Demo,
        &["--witness", "ftp://127.0.0.1:1"],
    )
    .expect_err("a node started with a witness URL that is not http://");
    assert!(format!("{refused:#}").contains("must start with http://"), "{refused:#}");

    let port = cairn_tests::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let node = Node::start_with_args(&dir.path().join("node"), Start::Demo, &["--witness", &url])
        .expect("demo node");
    let info = on(&node, &["node", "info", "--json"]);
    let log_vkey = info.assert_success().json()["verifier_key"].as_str().expect("key").to_owned();
    // Nothing cosigned by the witness yet: it is not even up.
    std::thread::sleep(Duration::from_secs(2));
    let witness =
        Witness::start(dir.path(), &[&log_vkey], &format!("127.0.0.1:{port}")).expect("witness");
    let witness_vkey = witness.vkey().to_owned();
    let trusted = trusted_with_witness(&node, dir.path(), &witness_vkey);

    let deadline = Instant::now() + Duration::from_secs(60);
    let view: Value = loop {
        let run = on(&node, &["checkpoint", "--quorum", "--trusted-keys", arg(&trusted), "--json"]);
        if run.success() {
            break run.json();
        }
        assert!(
            Instant::now() < deadline,
            "the node never served a witnessed checkpoint: {}\nnode stderr:\n{}",
            run.describe(),
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let signers = view["verified_signers"].as_array().expect("verified signers");
    assert!(signers.iter().any(|s| s == WITNESS_NAME), "{view}");
    assert_eq!(signers.len(), 2, "{view}");

    // New transactions: the witness cosigns the larger checkpoint too, from
    // the size it holds, with the node's consistency proof.
    let first = view["tree_size"].as_u64().expect("size");
    let key = dir.path().join("newcomer.key");
    let _ = cairn_tests::cairn(["key", "new", "--out", arg(&key)]).assert_success();
    let ca = dir.path().join("node/demo/org-ca.key");
    let _ = on(
        &node,
        &[
            "identity",
            "register",
            "--key",
            arg(&key),
            "--name",
            "newcomer",
            "--org",
            "dept-civil",
            "--role",
            "consumer",
            "--endorser-key",
            arg(&ca),
        ],
    )
    .assert_success();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = on(&node, &["checkpoint", "--quorum", "--trusted-keys", arg(&trusted), "--json"]);
        if run.success() && run.json()["tree_size"].as_u64().is_some_and(|size| size > first) {
            break;
        }
        assert!(Instant::now() < deadline, "no larger witnessed checkpoint: {}", run.describe());
        std::thread::sleep(Duration::from_millis(500));
    }
}
