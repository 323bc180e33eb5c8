//! The printable decision as a reader sees it: the PDF is rendered, read
//! back with poppler's `pdftotext` and `pdfinfo` (one A4 page showing the
//! case reference, outcome, amount and hash), and rasterised with `pdftoppm`
//! at 150 dpi, where the QR code is found and decoded with `rqrr` and must
//! carry the document hash.
//!
//! poppler comes from Debian's `poppler-utils`
//! (`apt-get install -y poppler-utils`). Without it the tests skip with a
//! loud message, except with `CI=true` (or `CAIRN_REQUIRE_SERVICES=1`),
//! where they fail.

use std::path::Path;
use std::process::Command;

use asset_registry::decision::{
    DecisionDocument, Outcome, SignedDecision, parse_qr_payload, render_pdf,
};
use connectors::testing::support;

/// Whether poppler's tools are installed; skips loudly, or fails in CI,
/// when they are not.
fn poppler_installed() -> bool {
    let runs =
        |tool: &str| Command::new(tool).arg("-v").output().is_ok_and(|out| out.status.success());
    if ["pdftotext", "pdftoppm", "pdfinfo"].into_iter().all(runs) {
        return true;
    }
    support::unavailable::<()>(
        "poppler-utils (pdftotext, pdftoppm, pdfinfo)",
        "is not installed",
        "apt-get install -y poppler-utils",
    )
    .is_some()
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn document() -> DecisionDocument {
    DecisionDocument {
        case_id: "c-5f0e1d2c3b4a69788796a5b4c3d2e1f0".into(),
        service_id: "minimum-living-guarantee".into(),
        service_version: 1,
        outcome: Outcome::Approved,
        amount_minor: Some(123_456),
        currency: Some("CNY".into()),
        reasons: vec![
            "The household's per-capita income is below the local threshold; the amount is the \
             threshold minus the per-capita income, times the three members of the household."
                .into(),
        ],
        decided_by_organisation: "county-welfare-department".into(),
        decided_by_role: "acceptance_officer".into(),
        decided_by_address: "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344".into(),
        decided_at_ms: 1_796_385_600_000,
        evidence: vec!["3b".repeat(32), "9f".repeat(32)],
        appeal: false,
    }
}

/// Renders the decision into `dir`, checks the text and page poppler
/// reads, and answers the text of the QR code found at 150 dpi.
fn render_and_read(dir: &Path, signed: &SignedDecision, expected_text: &[&str]) -> String {
    let pdf_path = dir.join("decision.pdf");
    std::fs::write(&pdf_path, render_pdf(signed).unwrap()).unwrap();
    let pdf = pdf_path.to_str().unwrap();

    let info = run("pdfinfo", &[pdf]);
    assert!(info.lines().any(|line| line.starts_with("Pages:") && line.ends_with(" 1")), "{info}");
    assert!(info.contains("595 x 842 pts (A4)"), "{info}");

    let text = run("pdftotext", &["-layout", pdf, "-"]);
    let document_hash = hex::encode(signed.document.document_hash());
    for expected in expected_text.iter().copied().chain([
        signed.document.case_id.as_str(),
        document_hash.as_str(),
        &hex::encode(signed.signer_public_key),
    ]) {
        assert!(text.contains(expected), "{expected:?} missing from the PDF's text:\n{text}");
    }

    let png_base = dir.join("page");
    run("pdftoppm", &["-png", "-r", "150", "-singlefile", pdf, png_base.to_str().unwrap()]);
    let page = image::open(dir.join("page.png")).unwrap().to_luma8();
    let (width, height) = page.dimensions();
    // A4 at 150 dpi (842 points make 1754.2 pixels, which poppler rounds up).
    assert_eq!(width, 1240);
    assert!((1754..=1755).contains(&height), "{height} pixels high");
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, |x, y| {
            page.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_meta, content) = grids[0].decode().unwrap();
    content
}

#[test]
fn the_printed_decision_shows_the_case_and_its_qr_code_holds_the_document_hash() {
    if !poppler_installed() {
        return;
    }
    let key = ed25519_zebra::SigningKey::from([21u8; 32]);
    let signed = SignedDecision::sign(document(), &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = render_and_read(
        dir.path(),
        &signed,
        &[
            "Approved",
            "minimum-living-guarantee, version 1",
            "CNY 1,234.56",
            "county-welfare-department",
            "acceptance_officer",
            "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344",
            "4 December 2026 (2026-12-04, UTC)",
            "per-capita income is below the local threshold",
            &"3b".repeat(32),
        ],
    );
    assert_eq!(content, format!("cairn-decision:{}", hex::encode(signed.document.document_hash())));
    let hash = parse_qr_payload(&content).unwrap();
    // The hash the QR code carries is the one the signature verifies and
    // the ledger anchors.
    assert_eq!(signed.verify_against(&hash).unwrap(), hash);
    let file = signed.to_json();
    assert_eq!(SignedDecision::from_json(&file).unwrap().verify_against(&hash).unwrap(), hash);
}

#[test]
fn a_rejection_on_appeal_prints_its_reasons_with_escaping() {
    if !poppler_installed() {
        return;
    }
    let mut document = document();
    document.outcome = Outcome::Rejected;
    document.amount_minor = None;
    document.currency = None;
    document.appeal = true;
    document.reasons = vec![
        "Declared income (tax office, 2026) is above the threshold \\ limit.".into(),
        "Café: the committee’s survey found a second property – see evidence 2.".into(),
    ];
    let key = ed25519_zebra::SigningKey::from([22u8; 32]);
    let signed = SignedDecision::sign(document, &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = render_and_read(
        dir.path(),
        &signed,
        &[
            "Rejected (decided on appeal)",
            "Declared income (tax office, 2026) is above the threshold \\ limit.",
            "Café: the committee’s survey found a second property – see evidence 2.",
            "None",
        ],
    );
    assert_eq!(parse_qr_payload(&content).unwrap(), signed.verify().unwrap());
}

#[test]
fn a_decision_too_long_for_a_page_is_cut_with_a_note_and_keeps_its_qr_code() {
    if !poppler_installed() {
        return;
    }
    let mut document = document();
    document.reasons = (1..=asset_registry::decision::MAX_REASONS)
        .map(|number| {
            format!("Reason {number}: {}", "the survey and the accounts agree. ".repeat(20))
        })
        .collect();
    document.evidence = vec!["5e".repeat(32); asset_registry::decision::MAX_EVIDENCE];
    let key = ed25519_zebra::SigningKey::from([23u8; 32]);
    let signed = SignedDecision::sign(document, &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let content = render_and_read(
        dir.path(),
        &signed,
        &[
            "Reason 1: the survey",
            "more lines do not fit on this page; the decision file holds the full text.",
        ],
    );
    assert_eq!(parse_qr_payload(&content).unwrap(), signed.verify().unwrap());
}
