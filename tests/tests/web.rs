//! The node's HTTP face (`cairn up --http-listen`), against a real node:
//!
//! - a mirror built only from the C2SP tlog-tiles over HTTP, by a small
//!   verifier written here from the specifications (RFC 6962 hashing, the
//!   C2SP signed-note and tlog-tiles layouts), agrees with the node's signed
//!   checkpoint, with an inclusion proof from the gRPC proof API and with the
//!   entry bundles; bad tile paths get problem details, never a crash;
//! - `/metrics` moves by exactly the transactions committed and refused;
//! - `/healthz`, `/readyz`, and entry bundles refused unless published.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cairn_schemas::v1 as pb;
use cairn_tests::{
    Node, Start, VALID, connect, genesis_new, on, publish_envelope, register_envelope, runtime,
};
use sha2::{Digest, Sha256};

const CHAIN: &str = "web-test";

type Hash = [u8; 32];

// ---- A minimal HTTP/1.1 client -------------------------------------------

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

fn request(addr: SocketAddr, method: &str, path: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connects to the HTTP listener");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).expect("reads the answer");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    assert!(!headers.contains_key("transfer-encoding"), "{headers:?}");
    Answer { status, headers, body: raw[split + 4..].to_vec() }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path)
}

// ---- RFC 6962 hashing, from the RFC --------------------------------------

fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// MTH over already-hashed subtrees (RFC 6962 §2.1).
fn mth(hashes: &[Hash]) -> Hash {
    match hashes.len() {
        0 => Sha256::digest(b"").into(),
        1 => hashes[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&hashes[..k]), &mth(&hashes[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2.
fn verify_inclusion(index: u64, size: u64, leaf: Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

// ---- C2SP signed note and checkpoint -------------------------------------

/// Verifies the note's signature by the key `vkey` (C2SP signed-note,
/// Ed25519) and answers the checkpoint's origin, size and root.
fn open_checkpoint(note: &str, vkey: &str) -> (String, u64, Hash) {
    let mut parts = vkey.splitn(3, '+');
    let (name, id, key) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let key = B64.decode(key).expect("vkey base64");
    assert_eq!(key[0], 1, "an Ed25519 vkey");
    let public: [u8; 32] = key[1..].try_into().expect("32-byte key");
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', 1]);
    h.update(public);
    let key_id: [u8; 4] = h.finalize()[..4].try_into().unwrap();
    assert_eq!(hex::encode(key_id), id, "the vkey's key id");
    let split = note.rfind("\n\n").expect("a blank line before the signatures");
    let text = &note[..=split];
    let verifier = ed25519_zebra::VerificationKey::try_from(public).expect("a valid key");
    let signed = note[split + 2..].lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else { return false };
        let Some((signer, sig)) = rest.split_once(' ') else { return false };
        let Ok(sig) = B64.decode(sig) else { return false };
        signer == name
            && sig.len() == 68
            && sig[..4] == key_id
            && verifier
                .verify(
                    &ed25519_zebra::Signature::from_bytes(sig[4..].try_into().unwrap()),
                    text.as_bytes(),
                )
                .is_ok()
    });
    assert!(signed, "the checkpoint is not signed by {vkey}:\n{note}");
    let mut lines = text.lines();
    let origin = lines.next().expect("origin").to_owned();
    let size = lines.next().expect("size").parse().expect("decimal size");
    let root = B64.decode(lines.next().expect("root")).expect("base64 root");
    (origin, size, root.try_into().expect("32-byte root"))
}

// ---- A mirror built from tiles -------------------------------------------

/// The tlog-tiles path element of tile index `n`.
fn encode_index(mut n: u64) -> String {
    let mut path = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        path = format!("x{:03}/{path}", n % 1000);
    }
    path
}

fn tile_path(kind: &str, n: u64, width: u64) -> String {
    let partial = if width == 256 { String::new() } else { format!(".p/{width}") };
    format!("/tile/{kind}/{}{partial}", encode_index(n))
}

struct Mirror {
    /// `levels[l]`: every hash of tile level `l` of the tree.
    levels: Vec<Vec<Hash>>,
    /// Every entry, in order.
    entries: Vec<Vec<u8>>,
}

impl Mirror {
    fn fetch(addr: SocketAddr, size: u64) -> Mirror {
        let mut levels = Vec::new();
        let mut level = 0u32;
        while size >> (8 * level) > 0 {
            let count = size >> (8 * level);
            let mut hashes = Vec::new();
            for n in 0..count.div_ceil(256) {
                let width = (count - n * 256).min(256);
                let tile = get(addr, &tile_path(&level.to_string(), n, width));
                assert_eq!(tile.status, 200, "{}", tile.text());
                assert_eq!(tile.header("content-type"), "application/octet-stream");
                assert!(tile.header("cache-control").contains("immutable"), "{:?}", tile.headers);
                assert_eq!(tile.body.len() as u64, width * 32);
                hashes.extend(tile.body.chunks(32).map(|c| <Hash>::try_from(c).unwrap()));
            }
            levels.push(hashes);
            level += 1;
        }
        let mut entries = Vec::new();
        for n in 0..size.div_ceil(256) {
            let width = (size - n * 256).min(256);
            let bundle = get(addr, &tile_path("entries", n, width));
            assert_eq!(bundle.status, 200, "{}", bundle.text());
            let mut rest = bundle.body.as_slice();
            while !rest.is_empty() {
                let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                entries.push(rest[2..2 + len].to_vec());
                rest = &rest[2 + len..];
            }
        }
        assert_eq!(entries.len() as u64, size);
        Mirror { levels, entries }
    }

    /// The hash of the complete subtree of height `k` at index `i`.
    fn subtree(&self, k: u32, i: u64) -> Hash {
        let (level, r) = ((k / 8) as usize, k % 8);
        let from = (i << r) as usize;
        mth(&self.levels[level][from..from + (1 << r)])
    }

    /// The root of the tree of the first `size` leaves.
    fn root(&self, size: u64) -> Hash {
        let mut subtrees = Vec::new();
        let mut start = 0;
        for k in (0..64).rev() {
            if size & (1 << k) != 0 {
                subtrees.push(self.subtree(k, start >> k));
                start += 1 << k;
            }
        }
        let Some(last) = subtrees.pop() else { return Sha256::digest(b"").into() };
        subtrees.iter().rev().fold(last, |acc, left| node_hash(left, &acc))
    }
}

// ---- The node ------------------------------------------------------------

fn start(root: &Path, extra: &[&str]) -> (Node, KeyPair) {
    let dir = root.join("consortium");
    let _ = genesis_new(CHAIN, &dir);
    let ca = KeyPair::load(&dir.join("org-ca.key")).expect("the CA organisation key");
    let genesis = dir.join("genesis.json");
    let mut args = vec!["--http-listen", "127.0.0.1:0", "--audit-anchor-interval", "1h"];
    args.extend_from_slice(extra);
    let node = Node::start_with_args(&root.join("node"), Start::Genesis(&genesis), &args)
        .expect("node starts");
    (node, ca)
}

/// Registers `n` fresh providers; answers their transaction ids.
fn register(node: &Node, ca: &KeyPair, n: usize, tag: &str) -> Vec<String> {
    runtime().block_on(async {
        let client = connect(&node.url()).await.expect("connect");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let key = KeyPair::generate().expect("key");
            let envelope = register_envelope(
                CHAIN,
                &key,
                &format!("{tag} {i}"),
                "dept",
                Role::Provider,
                ("ca", ca),
            );
            let mut client = client.clone();
            let _ = tasks.spawn(async move {
                let answer = client.submit(pb::SubmitRequest { envelope: envelope.bytes }).await;
                (envelope.tx_id, answer)
            });
        }
        let mut ids = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (tx_id, answer) = done.expect("task");
            let answer = answer.expect("registration submitted").into_inner();
            assert_eq!(answer.validation_code, VALID, "{answer:?}");
            ids.push(tx_id);
        }
        ids
    })
}

fn assert_problem(answer: &Answer, status: u16) -> serde_json::Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.header("content-type"), "application/problem+json");
    let problem = answer.json();
    assert_eq!(problem["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(problem[field].as_str().is_some_and(|s| !s.is_empty()), "{problem}");
    }
    problem
}

#[test]
fn a_mirror_built_only_from_tiles_agrees_with_the_checkpoint_and_the_proofs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, ca) = start(dir.path(), &["--http-public-entries"]);
    let http = node.http_addr().expect("an HTTP address");
    // More than one full tile, so level 1 and a partial level-0 tile exist.
    let ids = register(&node, &ca, 300, "provider");

    let info = on(&node, &["node", "info", "--json"]).assert_success().json();
    let vkey = info["verifier_key"].as_str().expect("verifier key").to_owned();
    let checkpoint = get(http, "/checkpoint");
    assert_eq!(checkpoint.status, 200);
    assert_eq!(checkpoint.header("content-type"), "text/plain; charset=utf-8");
    assert!(!checkpoint.header("cache-control").contains("max-age=31536000"));
    let (origin, size, root) = open_checkpoint(&checkpoint.text(), &vkey);
    assert_eq!(origin, info["origin"].as_str().unwrap());
    assert!(size >= 300, "{size}");

    let mirror = Mirror::fetch(http, size);
    assert_eq!(mirror.levels.len(), 2, "a level-1 tile for {size} leaves");
    assert_eq!(mirror.root(size), root, "the tiles' root is the checkpoint's");
    // Each level-1 hash is the MTH of the full level-0 tile under it.
    for (j, hash) in mirror.levels[1].iter().enumerate() {
        assert_eq!(*hash, mth(&mirror.levels[0][j * 256..(j + 1) * 256]));
    }
    // Every entry hashes to its level-0 leaf, and names its transaction.
    for (i, entry) in mirror.entries.iter().enumerate() {
        assert_eq!(leaf_hash(entry), mirror.levels[0][i], "entry {i}");
    }
    let entry_ids: Vec<String> = mirror.entries.iter().map(|e| hex::encode(&e[14..46])).collect();
    for id in &ids {
        assert!(entry_ids.contains(id), "transaction {id} is not in the entries");
    }

    // The node's own proof of one transaction verifies against the mirror's root.
    let tx_id = ids[123].clone();
    let proof = runtime().block_on(async {
        let mut client = connect(&node.url()).await.expect("connect");
        client
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                tx_id: tx_id.clone(),
                tree_size: size,
                quorum: false,
            })
            .await
            .expect("an inclusion proof")
            .into_inner()
            .proof
            .expect("a proof")
    });
    assert_eq!(proof.tree_size, size);
    let leaf = leaf_hash(&mirror.entries[proof.leaf_index as usize]);
    assert_eq!(leaf, leaf_hash(&proof.leaf));
    assert_eq!(hex::encode(&proof.leaf[14..46]), tx_id);
    let path: Vec<Hash> = proof.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
    assert!(verify_inclusion(proof.leaf_index, size, leaf, &path, &mirror.root(size)));
    // The root of an older tree size comes from the same tiles.
    let smaller = proof.leaf_index + 1;
    let old = runtime().block_on(async {
        let mut client = connect(&node.url()).await.expect("connect");
        client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: smaller, quorum: false })
            .await
            .expect("a checkpoint")
            .into_inner()
    });
    assert_eq!(old.root_hash, mirror.root(smaller).to_vec());

    // Refusals: problem details, and the node goes on serving.
    let partial = size % 256;
    for (path, status) in [
        ("/tile/0/0", 400),         // not 3 digits
        ("/tile/0/x000/000", 400),  // non-canonical N
        ("/tile/0/001/000", 400),   // group without x
        ("/tile/00/000", 400),      // leading zero in L
        ("/tile/64/000", 400),      // L out of range
        ("/tile/0/000.p/0", 400),   // width 0
        ("/tile/0/000.p/256", 400), // width out of range
        ("/tile/entries/0x1", 400),
        ("/tile/0/x999/x999/x999/x999/x999/x999/999", 400), // beyond u64
        ("/tile/0/999", 404),                               // beyond the tree
        ("/tile/1/000", 404),                               // full level-1 tile needs 65536
        ("/tile/2/000.p/1", 404),
        ("/tile/9/000.p/1", 404),
        ("/tile/entries/005", 404),
        ("/nothing", 404),
    ] {
        let _ = assert_problem(&get(http, path), status);
    }
    let wider = format!("/tile/0/001.p/{}", partial + 1);
    let _ = assert_problem(&get(http, &wider), 404);
    let _ = assert_problem(&request(http, "POST", "/checkpoint"), 405);
    assert_eq!(get(http, "/healthz").status, 200);
    // A tile of an older size stays the same bytes.
    let first = get(http, "/tile/0/000.p/5");
    assert_eq!(first.body, mirror.levels[0][..5].concat());
    node.stop_cleanly();
}

/// The value of the sample `name` (with its labels, as printed), 0 if absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn metrics_move_by_exactly_what_was_committed_and_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, ca) = start(dir.path(), &[]);
    let http = node.http_addr().expect("an HTTP address");
    assert_eq!(get(http, "/healthz").status, 200);
    let ready = get(http, "/readyz");
    assert_eq!(ready.status, 200, "{}", ready.text());
    // Entry bundles are not public unless the operator says so.
    let _ = assert_problem(&get(http, "/tile/entries/000.p/1"), 403);

    let before = get(http, "/metrics");
    assert_eq!(before.status, 200);
    assert!(before.header("content-type").starts_with("application/openmetrics-text"));
    let before = before.text();

    const N: usize = 7;
    const M: usize = 3;
    let _ = register(&node, &ca, N, "provider");
    // M submissions by a key that is not registered: refused, never logged.
    runtime().block_on(async {
        let mut client = connect(&node.url()).await.expect("connect");
        let stranger = KeyPair::generate().expect("key");
        for i in 0..M {
            let envelope = publish_envelope(
                CHAIN,
                &stranger,
                &format!("stranger/{i}"),
                1,
                b"{}".to_vec(),
                format!("{i}").as_bytes(),
            );
            let refused = client.submit(pb::SubmitRequest { envelope: envelope.bytes }).await;
            assert_eq!(refused.expect_err("refused").code(), tonic::Code::Unauthenticated);
        }
    });
    let after = get(http, "/metrics").text();
    let moved = |name: &str| sample(&after, name) - sample(&before, name);
    assert_eq!(moved("cairn_transactions_committed_total{code=\"valid\"}"), N as f64, "{after}");
    assert_eq!(
        moved("cairn_submissions_refused_total{reason=\"unauthenticated\"}"),
        M as f64,
        "{after}"
    );
    assert_eq!(moved("cairn_commit_latency_seconds_count"), N as f64);
    assert_eq!(moved("cairn_block_transactions_sum"), N as f64);
    let blocks = moved("cairn_blocks_committed_total");
    assert!((1.0..=N as f64).contains(&blocks), "{blocks} blocks");
    assert_eq!(moved("cairn_block_transactions_count"), blocks);
    assert_eq!(sample(&after, "cairn_submission_queue_depth"), 0.0);
    // The first scrape itself, counted once it was answered.
    assert_eq!(moved("cairn_http_requests_total{route=\"/metrics\",status=\"200\"}"), 1.0);
    assert!(
        sample(&after, "cairn_http_requests_total{route=\"/tile/entries/{*path}\",status=\"403\"}")
            >= 1.0
    );
    let log_size = sample(&after, "cairn_log_size");
    assert_eq!(moved("cairn_log_size"), N as f64, "{log_size}");
    node.stop_cleanly();
}
