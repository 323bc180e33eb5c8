//! The payment files validated against the published ISO 20022 schemas:
//! `pain.001.001.03` and `pain.008.001.02` as shipped by Python's `sepaxml`
//! package, checked with the `xmlschema` package.
//!
//! Needs `python3` with both packages: `python3 -m pip install sepaxml xmlschema`.
//! With `CI=true` a missing package fails the test; elsewhere the test is
//! skipped with a loud message on stderr.

use std::io::Write as _;
use std::process::{Command, Stdio};

use asset_registry::payments::{
    self, Batch, Counterparty, Date, DateTime, Direction, Entitlement, Mandate, Party, Period,
};

/// Finds the schema `argv[1]` inside the installed `sepaxml` package and
/// validates the document read from standard input; prints every error.
const VALIDATE: &str = r#"
import io, os, sys
import sepaxml, xmlschema
path = os.path.join(os.path.dirname(sepaxml.__file__), "schemas", sys.argv[1] + ".xsd")
schema = xmlschema.XMLSchema(path)
errors = list(schema.iter_errors(io.BytesIO(sys.stdin.buffer.read())))
for error in errors:
    print(f"{error.path}: {error.reason}")
print(f"{len(errors)} schema errors against {path}")
sys.exit(1 if errors else 0)
"#;

/// Whether the validator can run: python3 with `sepaxml` and `xmlschema`.
/// Fails under `CI=true` when it cannot; otherwise says loudly that the
/// test is skipped.
fn validator_available() -> bool {
    let probe = Command::new("python3").args(["-c", "import sepaxml, xmlschema"]).output();
    let problem = match probe {
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
        Err(error) => format!("cannot run python3: {error}"),
    };
    let message = format!(
        "the payment XSD test needs python3 with the sepaxml and xmlschema packages \
         (install: python3 -m pip install sepaxml xmlschema): {problem}"
    );
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{message}");
    }
    // Written to the process's stderr rather than through eprintln!, which
    // the test harness captures and hides for a passing test.
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {message}\n");
    false
}

/// The validator's verdict on `xml` against schema `schema`: `Ok` with its
/// report, or `Err` with every schema error.
fn validate(schema: &str, xml: &str) -> Result<String, String> {
    let mut child = Command::new("python3")
        .args(["-c", VALIDATE, schema])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(xml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() { Ok(report) } else { Err(report) }
}

fn period(year: u16, month: u8) -> Period {
    Period::new(year, month).unwrap()
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date::new(year, month, day).unwrap()
}

fn counterparty(name: &str, iban: &str, bic: Option<&str>, mandate: Option<&str>) -> Counterparty {
    Counterparty {
        name: name.into(),
        iban: iban.into(),
        bic: bic.map(Into::into),
        mandate: mandate.map(|id| Mandate { id: id.into(), signed_on: date(2025, 11, 30) }),
    }
}

/// Benefits and premiums of four cases, one ended, so the monthly run
/// leaves one out.
fn entitlements() -> Vec<Entitlement> {
    let entitlement = |case_id: &str, amount, direction, counterparty| Entitlement {
        case_id: case_id.into(),
        monthly_amount_minor: amount,
        direction,
        first_period: period(2026, 1),
        last_period: None,
        counterparty,
    };
    let mut ended = entitlement(
        "c-00000000000000000000000000000004",
        5_000,
        Direction::Credit,
        counterparty("Ended Case", "NL91ABNA0417164300", None, None),
    );
    ended.last_period = Some(period(2026, 11));
    vec![
        entitlement(
            "c-0123456789abcdef0123456789abcdef",
            45_010,
            Direction::Credit,
            counterparty(
                "Zoë Müller & Söhne",
                "DE89 3704 0044 0532 0130 00",
                Some("COBADEFFXXX"),
                None,
            ),
        ),
        entitlement(
            "c-fedcba9876543210fedcba9876543210",
            999_999_999_999,
            Direction::Credit,
            counterparty("Łukasz O’Brien-Żółć", "FR1420041010050500013M02606", None, None),
        ),
        ended,
        entitlement(
            "c-00000000000000000000000000000001",
            8_250,
            Direction::Debit,
            counterparty(
                "Anna Schmidt",
                "GB82WEST12345698765432",
                Some("NWBKGB2L"),
                Some("SI-2026-000017"),
            ),
        ),
        entitlement(
            "c-00000000000000000000000000000002",
            1_750,
            Direction::Debit,
            counterparty("Jean Dupont (Père)", "BE68539007547034", None, Some("SI/2026/18")),
        ),
    ]
}

fn batch(message_id: &str, bic: Option<&str>, direction: Direction) -> Batch {
    let instructions = payments::monthly(&entitlements(), 2026, 12)
        .unwrap()
        .into_iter()
        .filter(|instruction| instruction.direction == direction)
        .collect();
    Batch {
        message_id: message_id.into(),
        created_at: DateTime::from_unix_millis(1_796_418_000_000).unwrap(),
        requested_date: date(2026, 12, 10),
        party: Party {
            name: "Social insurance agency & civil affairs".into(),
            iban: "DE02120300000000202051".into(),
            bic: bic.map(Into::into),
            creditor_id: Some("DE98ZZZ09999999999".into()),
        },
        instructions,
    }
}

#[test]
fn credit_transfers_are_valid_pain_001_001_03() {
    if !validator_available() {
        return;
    }
    for bic in [Some("BYLADEM1001"), None] {
        let xml = payments::pain_001(&batch("MLG-2026-12", bic, Direction::Credit)).unwrap();
        assert!(xml.contains("<NbOfTxs>2</NbOfTxs>"), "{xml}");
        assert!(xml.contains("<CtrlSum>10000000450.09</CtrlSum>"), "{xml}");
        if let Err(report) = validate("pain.001.001.03", &xml) {
            panic!("pain.001 fails its schema:\n{report}\n{xml}");
        }
    }
}

#[test]
fn direct_debits_are_valid_pain_008_001_02() {
    if !validator_available() {
        return;
    }
    for bic in [Some("BYLADEM1001"), None] {
        let xml = payments::pain_008(&batch("SI-PREMIUM-2026-12", bic, Direction::Debit)).unwrap();
        assert!(xml.contains("<NbOfTxs>2</NbOfTxs>"), "{xml}");
        assert!(xml.contains("<CtrlSum>100.00</CtrlSum>"), "{xml}");
        if let Err(report) = validate("pain.008.001.02", &xml) {
            panic!("pain.008 fails its schema:\n{report}\n{xml}");
        }
    }
}

#[test]
fn the_validator_refuses_a_broken_file() {
    if !validator_available() {
        return;
    }
    // The check above is only worth something if the validator says no to
    // a file that breaks the schema: here a lower-case IBAN and a missing
    // control sum.
    let xml = payments::pain_001(&batch("MLG-2026-12", None, Direction::Credit)).unwrap();
    let broken =
        xml.replace("<IBAN>DE89370400440532013000</IBAN>", "<IBAN>de89370400440532013000</IBAN>");
    let report = validate("pain.001.001.03", &broken).unwrap_err();
    assert!(report.contains("1 schema errors"), "{report}");
    let xml = payments::pain_008(&batch("SI-2026-12", None, Direction::Debit)).unwrap();
    let broken = xml.replacen("<NbOfTxs>2</NbOfTxs>", "", 1);
    assert!(validate("pain.008.001.02", &broken).is_err());
}
