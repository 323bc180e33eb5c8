//! Unit tests of the payments module: check digits, totals, escaping,
//! transliteration, and every refusal naming its field.

use super::validate;
use super::*;

const CASE_A: &str = "c-0123456789abcdef0123456789abcdef";
const CASE_B: &str = "c-fedcba9876543210fedcba9876543210";

fn period(year: u16, month: u8) -> Period {
    Period::new(year, month).unwrap()
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date::new(year, month, day).unwrap()
}

fn agency() -> Party {
    Party {
        name: "Civil affairs department".into(),
        iban: "DE02120300000000202051".into(),
        bic: Some("BYLADEM1001".into()),
        creditor_id: Some("DE98ZZZ09999999999".into()),
    }
}

fn beneficiary(name: &str) -> Counterparty {
    Counterparty {
        name: name.into(),
        iban: "DE89 3704 0044 0532 0130 00".into(),
        bic: Some("COBADEFFXXX".into()),
        mandate: None,
    }
}

fn payer(name: &str) -> Counterparty {
    Counterparty {
        name: name.into(),
        iban: "FR1420041010050500013M02606".into(),
        bic: None,
        mandate: Some(Mandate { id: "SI-2026-000017".into(), signed_on: date(2026, 3, 1) }),
    }
}

fn credit(case_id: &str, amount_minor: u64, name: &str) -> Instruction {
    Instruction::new(case_id, period(2026, 12), Direction::Credit, amount_minor, &beneficiary(name))
        .unwrap()
}

fn debit(case_id: &str, amount_minor: u64, name: &str) -> Instruction {
    Instruction::new(case_id, period(2026, 12), Direction::Debit, amount_minor, &payer(name))
        .unwrap()
}

fn batch(instructions: Vec<Instruction>) -> Batch {
    Batch {
        message_id: "MLG-2026-12-001".into(),
        created_at: "2026-12-04T21:00:00".parse().unwrap(),
        requested_date: date(2026, 12, 10),
        party: agency(),
        instructions,
    }
}

/// The error of `result`, as text.
fn error<T: std::fmt::Debug>(result: Result<T>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.to_string(),
    }
}

// ---- IBAN, BIC, creditor identifier ----

#[test]
fn valid_ibans_are_accepted_in_electronic_form() {
    for (given, expected) in [
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
        ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),
        ("BE68539007547034", "BE68539007547034"),
        ("NO9386011117947", "NO9386011117947"),
        ("IT60X0542811101000000123456", "IT60X0542811101000000123456"),
    ] {
        assert_eq!(validate::iban("iban", given).unwrap(), expected, "{given}");
    }
}

#[test]
fn invalid_ibans_say_what_is_wrong() {
    for (given, expected) in [
        (
            "DE88370400440532013000",
            "x.iban: invalid IBAN: the check digits do not match (mod-97 check failed)",
        ),
        (
            "DE8937040044053201300",
            "x.iban: invalid IBAN: an IBAN of DE has 22 characters, this one has 21",
        ),
        ("ZZ89370400440532013000", "x.iban: invalid IBAN: country ZZ does not issue IBANs"),
        (
            "DE89-3704-0044-0532-0130-00",
            "x.iban: invalid IBAN: only letters, digits and spaces are allowed; character 5 is not one",
        ),
        ("DE", "x.iban: invalid IBAN: 2 characters is too short"),
        ("12345678", "x.iban: invalid IBAN: it must start with a two-letter country code"),
        (
            "DEXX370400440532013000",
            "x.iban: invalid IBAN: the two characters after the country code must be check digits",
        ),
    ] {
        assert_eq!(error(validate::iban("x.iban", given)), expected, "{given}");
    }
}

#[test]
fn check_digits_are_computed_by_mod_97() {
    // The German example IBAN DE89 3704 0044 0532 0130 00.
    assert_eq!(validate::check_digits("370400440532013000DE00"), 89);
    // The British example GB82 WEST 1234 5698 7654 32.
    assert_eq!(validate::check_digits("WEST12345698765432GB00"), 82);
}

#[test]
fn bics_follow_the_schema_pattern() {
    for good in ["COBADEFF", "COBADEFFXXX", "BYLADEM1001", "DEUTDE2H"] {
        assert_eq!(validate::bic("bic", good).unwrap(), good);
    }
    for bad in
        ["COBADEF", "COBADEFFXX", "cobadeff", "C0BADEFF", "COBADE1F", "COBADEFO", "COBADEFF-XX"]
    {
        assert_eq!(
            error(validate::bic("party.bic", bad)),
            "party.bic: invalid BIC: it must be 8 or 11 characters, 6 letters, then 2 letters or digits (the second not O), then optionally 3 letters or digits",
            "{bad}"
        );
    }
}

#[test]
fn creditor_identifiers_are_checked() {
    assert!(validate::creditor_id("c", "DE98ZZZ09999999999").is_ok());
    // The business code does not enter the check digits.
    assert!(validate::creditor_id("c", "DE98ABC09999999999").is_ok());
    assert_eq!(
        error(validate::creditor_id("party.creditor_id", "DE97ZZZ09999999999")),
        "party.creditor_id: invalid SEPA creditor identifier: the check digits do not match (mod-97 check failed)"
    );
    assert_eq!(
        error(validate::creditor_id("party.creditor_id", "de98zzz09999999999")),
        "party.creditor_id: invalid SEPA creditor identifier: only upper-case letters and digits are allowed"
    );
}

// ---- amounts, currency, text ----

#[test]
fn amounts_are_written_from_integers() {
    for (minor, text) in [
        (0, "0.00"),
        (5, "0.05"),
        (70, "0.70"),
        (12_345, "123.45"),
        (100_000, "1000.00"),
        (validate::MAX_AMOUNT_MINOR, "9999999999.99"),
        (u64::MAX, "184467440737095516.15"),
    ] {
        assert_eq!(format_amount(minor), text);
    }
}

#[test]
fn amounts_out_of_range_are_refused() {
    assert_eq!(
        error(validate::amount("a", 0)),
        "a: amount 0 minor units is out of range: it must be between 1 and 999999999999 (9999999999.99)"
    );
    assert!(validate::amount("a", 1).is_ok());
    assert!(validate::amount("a", 999_999_999_999).is_ok());
    assert!(validate::amount("a", 1_000_000_000_000).is_err());
}

#[test]
fn currencies_must_have_the_iso_4217_shape() {
    assert_eq!(validate::currency("c", "EUR").unwrap(), "EUR");
    for bad in ["eur", "EU", "EURO", "E1R", ""] {
        assert!(error(validate::currency("c", bad)).contains("is not an ISO 4217 code"), "{bad}");
    }
}

#[test]
fn escaping_covers_the_xml_special_characters() {
    assert_eq!(escape("<&>"), "&lt;&amp;&gt;");
    assert_eq!(escape("a\"b'c"), "a&quot;b&apos;c");
    assert_eq!(escape("&amp;"), "&amp;amp;");
    assert_eq!(escape("plain text"), "plain text");
}

#[test]
fn text_is_transliterated_into_the_sepa_set() {
    for (given, expected) in [
        ("Zoë Müller & Söhne", "Zoe Muller + Sohne"),
        ("Łukasz Żółć", "Lukasz Zolc"),
        ("Œdipe Ærø Straße", "OEdipe AEro Strasse"),
        ("Ștefan Țepeș", "Stefan Tepes"),
        ("O\u{2019}Brien \u{2013} Dublin", "O'Brien - Dublin"),
        ("  two   spaces\tand tab  ", "two spaces and tab"),
        ("ACME (Ltd.) 1/2 ?:,+", "ACME (Ltd.) 1/2 ?:,+"),
    ] {
        assert_eq!(validate::text("name", given, 70).unwrap(), expected, "{given}");
    }
}

#[test]
fn text_without_a_transliteration_is_rejected() {
    for (given, expected) in [
        (
            "<script>",
            "name: character '<' at position 1 is outside the SEPA character set and has no transliteration",
        ),
        (
            "Bob > Alice",
            "name: character '>' at position 5 is outside the SEPA character set and has no transliteration",
        ),
        (
            "a@b",
            "name: character '@' at position 2 is outside the SEPA character set and has no transliteration",
        ),
        (
            "Иван",
            "name: character 'И' at position 1 is outside the SEPA character set and has no transliteration",
        ),
        ("   ", "name: it is empty"),
    ] {
        assert_eq!(error(validate::text("name", given, 70)), expected, "{given}");
    }
    assert_eq!(
        error(validate::text("name", &"ß".repeat(36), 70)),
        "name: it has 72 characters after transliteration; at most 70 are allowed"
    );
}

#[test]
fn identifiers_follow_the_sepa_rules() {
    assert!(validate::identifier("id", "MLG-2026-12/001").is_ok());
    for (bad, reason) in [
        ("", "it must have 1 to 35 characters, not 0"),
        ("/A", "it must not start or end with / or contain //"),
        ("A//B", "it must not start or end with / or contain //"),
        (
            "A B",
            "character ' ' at position 2 is not allowed (letters, digits and / - ? : ( ) . , ' + only)",
        ),
        (
            "A&B",
            "character '&' at position 2 is not allowed (letters, digits and / - ? : ( ) . , ' + only)",
        ),
    ] {
        assert_eq!(
            error(validate::identifier("message_id", bad)),
            format!("message_id: invalid identifier {bad:?}: {reason}")
        );
    }
    assert!(validate::identifier("id", &"A".repeat(36)).is_err());
}

// ---- dates ----

#[test]
fn dates_know_the_calendar() {
    assert!(Date::new(2024, 2, 29).is_ok());
    assert!(Date::new(2000, 2, 29).is_ok());
    assert_eq!(error(Date::new(2026, 2, 29)), "date: 2026-02 has 28 days, not a day 29");
    assert_eq!(error(Date::new(1900, 2, 29)), "date: 1900-02 has 28 days, not a day 29");
    assert!(Date::new(2026, 4, 31).is_err());
    assert!(Date::new(2026, 13, 1).is_err());
    assert_eq!("2026-12-04".parse::<Date>().unwrap(), date(2026, 12, 4));
    assert!("2026-12-4".parse::<Date>().is_err());
    assert!("2026-1a-04".parse::<Date>().is_err());
    assert_eq!("2026-12".parse::<Period>().unwrap(), period(2026, 12));
    assert_eq!(
        error("2026-13".parse::<Period>()),
        "period: year 2026 month 13 is not a month: the year must be 1 to 9999 and the month 1 to 12"
    );
}

#[test]
fn ledger_times_become_utc_date_times() {
    for (timestamp_ms, expected) in [
        (0, "1970-01-01T00:00:00"),
        (1_796_418_000_000, "2026-12-04T21:00:00"),
        (1_796_418_000_999, "2026-12-04T21:00:00"),
        (1_709_251_199_000, "2024-02-29T23:59:59"),
        (253_402_300_799_000, "9999-12-31T23:59:59"),
    ] {
        assert_eq!(DateTime::from_unix_millis(timestamp_ms).unwrap().to_string(), expected);
    }
    assert!(DateTime::from_unix_millis(253_402_300_800_000).is_err());
    assert!(DateTime::from_unix_millis(u64::MAX).is_err());
    assert_eq!(Date::from_unix_millis(1_796_418_000_000).unwrap(), date(2026, 12, 4));
    assert_eq!(
        "2026-12-04T21:00:00Z".parse::<DateTime>().unwrap(),
        "2026-12-04T21:00:00".parse::<DateTime>().unwrap()
    );
    assert!("2026-12-04T24:00:00".parse::<DateTime>().is_err());
}

// ---- end-to-end ids and the monthly run ----

#[test]
fn end_to_end_ids_fit_35_characters_and_lead_back_to_the_case() {
    let id = end_to_end_id(Direction::Credit, CASE_A, period(2026, 12)).unwrap();
    assert_eq!(id, "C-02FAPL4N1AZS5KKWZRXA98BN3-202612");
    assert!(id.len() <= 35);
    let max =
        end_to_end_id(Direction::Debit, "c-ffffffffffffffffffffffffffffffff", period(9999, 12))
            .unwrap();
    assert_eq!(max.len(), 34);
    for (direction, case_id) in [(Direction::Credit, CASE_A), (Direction::Debit, CASE_B)] {
        let id = end_to_end_id(direction, case_id, period(2027, 1)).unwrap();
        assert_eq!(
            PaymentRef::parse(&id).unwrap(),
            PaymentRef { direction, case_id: case_id.into(), period: period(2027, 1) }
        );
    }
    assert_eq!(
        end_to_end_id(Direction::Credit, "C-0123456789ABCDEF0123456789ABCDEF", period(2026, 12))
            .unwrap_err()
            .to_string(),
        "case_id: case id \"C-0123456789ABCDEF0123456789ABCDEF\" is not c- followed by 32 hexadecimal digits"
    );
    assert!(end_to_end_id(Direction::Credit, "c-0123", period(2026, 12)).is_err());
    for bad in [
        "X-02FAPL4N1AZS5KKWZRXA98BN3-202612",
        "C-02FAPL4N1AZS5KKWZRXA98BN-202612",
        "C-02FAPL4N1AZS5KKWZRXA98BN3-202613",
        "C-ZZZZZZZZZZZZZZZZZZZZZZZZZ-202612",
        "C-1",
    ] {
        assert!(PaymentRef::parse(bad).is_err(), "{bad}");
    }
}

fn entitlement(case_id: &str, amount: u64, first: Period, last: Option<Period>) -> Entitlement {
    Entitlement {
        case_id: case_id.into(),
        monthly_amount_minor: amount,
        direction: Direction::Credit,
        first_period: first,
        last_period: last,
        counterparty: beneficiary("Anna Schmidt"),
    }
}

#[test]
fn monthly_pays_the_entitlements_active_in_the_month() {
    let entitlements = [
        entitlement(CASE_A, 45_000, period(2026, 11), None),
        // Ended the month before.
        entitlement(CASE_B, 30_000, period(2026, 1), Some(period(2026, 11))),
        // Starts next month.
        entitlement("c-00000000000000000000000000000001", 10_000, period(2027, 1), None),
        // Zero this month: nothing to pay.
        entitlement("c-00000000000000000000000000000002", 0, period(2026, 1), None),
        // Its last month.
        entitlement(
            "c-00000000000000000000000000000003",
            12_345,
            period(2026, 12),
            Some(period(2026, 12)),
        ),
    ];
    let instructions = monthly(&entitlements, 2026, 12).unwrap();
    let summary: Vec<(&str, u64)> =
        instructions.iter().map(|i| (i.case_id.as_str(), i.amount_minor)).collect();
    assert_eq!(summary, [(CASE_A, 45_000), ("c-00000000000000000000000000000003", 12_345)]);
    assert_eq!(instructions[0].remittance, format!("Benefit case {CASE_A} period 2026-12"));
    assert_eq!(instructions[0].currency, "EUR");
    assert_eq!(instructions[0].period, period(2026, 12));
    assert_eq!(monthly(&entitlements, 2026, 11).unwrap().len(), 2);
    assert_eq!(monthly(&entitlements, 2027, 1).unwrap().len(), 2);
    assert_eq!(
        error(monthly(&entitlements, 2026, 13)),
        "period: year 2026 month 13 is not a month: the year must be 1 to 9999 and the month 1 to 12"
    );
}

#[test]
fn monthly_names_the_bad_entitlement() {
    let mut no_mandate = entitlement(CASE_A, 1_000, period(2026, 1), None);
    no_mandate.direction = Direction::Debit;
    assert_eq!(
        error(monthly(&[no_mandate], 2026, 12)),
        format!("batch: entitlements[0] ({CASE_A}): a debit needs the payer's mandate")
    );
    let bad_case = entitlement("case-17", 1_000, period(2026, 1), None);
    assert_eq!(
        error(monthly(&[bad_case], 2026, 12)),
        "entitlements[0] (case-17).case_id: case id \"case-17\" is not c- followed by 32 hexadecimal digits"
    );
    let backwards = entitlement(CASE_A, 1_000, period(2026, 5), Some(period(2026, 4)));
    assert_eq!(
        error(monthly(&[backwards], 2026, 12)),
        format!(
            "entitlements[0] ({CASE_A}).last_period: 2026-04 is before the first period 2026-05"
        )
    );
}

// ---- the files ----

#[test]
fn pain_001_counts_and_sums_exactly() {
    let xml = pain_001(&batch(vec![
        credit(CASE_A, 45_010, "Anna Schmidt"),
        credit(CASE_B, 999_999_999_999, "Zoë Müller & Söhne"),
        credit("c-00000000000000000000000000000003", 1, "Jean Dupont"),
    ]))
    .unwrap();
    // Header and payment block both carry the totals.
    assert_eq!(xml.matches("<NbOfTxs>3</NbOfTxs>").count(), 2, "{xml}");
    assert_eq!(xml.matches("<CtrlSum>10000000450.10</CtrlSum>").count(), 2, "{xml}");
    assert!(xml.contains("<InstdAmt Ccy=\"EUR\">450.10</InstdAmt>"));
    assert!(xml.contains("<InstdAmt Ccy=\"EUR\">9999999999.99</InstdAmt>"));
    assert!(xml.contains("<InstdAmt Ccy=\"EUR\">0.01</InstdAmt>"));
    assert!(xml.contains("<Nm>Zoe Muller + Sohne</Nm>"));
    assert!(xml.contains("<IBAN>DE89370400440532013000</IBAN>"));
    assert!(xml.contains("<CreDtTm>2026-12-04T21:00:00</CreDtTm>"));
    assert!(xml.contains("<ReqdExctnDt>2026-12-10</ReqdExctnDt>"));
    assert!(xml.contains("<EndToEndId>C-02FAPL4N1AZS5KKWZRXA98BN3-202612</EndToEndId>"));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\""));
    // The same batch gives the same bytes.
    let again = pain_001(&batch(vec![
        credit(CASE_A, 45_010, "Anna Schmidt"),
        credit(CASE_B, 999_999_999_999, "Zoë Müller & Söhne"),
        credit("c-00000000000000000000000000000003", 1, "Jean Dupont"),
    ]))
    .unwrap();
    assert_eq!(xml, again);
}

#[test]
fn pain_001_escapes_what_it_writes() {
    let mut instruction = credit(CASE_A, 100, "Anna Schmidt");
    // An apostrophe is in the SEPA set and reaches the XML, escaped.
    instruction.counterparty_name = "Anna O'Neill".into();
    let xml = pain_001(&batch(vec![instruction])).unwrap();
    assert!(xml.contains("<Nm>Anna O&apos;Neill</Nm>"), "{xml}");
    // Markup in a name never reaches the file.
    let mut instruction = credit(CASE_A, 100, "Anna Schmidt");
    instruction.counterparty_name = "<Nm>x</Nm>".into();
    assert_eq!(
        error(pain_001(&batch(vec![instruction]))),
        "instructions[0] (C-02FAPL4N1AZS5KKWZRXA98BN3-202612).counterparty_name: character '<' at position 1 is outside the SEPA character set and has no transliteration"
    );
}

#[test]
fn pain_001_without_bics_uses_notprovided_for_the_agency() {
    let mut file = batch(vec![credit(CASE_A, 100, "Anna Schmidt")]);
    file.party.bic = None;
    file.instructions[0].bic = None;
    let xml = pain_001(&file).unwrap();
    assert!(
        xml.contains(
            "<DbtrAgt>\n        <FinInstnId>\n          <Othr>\n            <Id>NOTPROVIDED</Id>"
        ),
        "{xml}"
    );
    assert!(!xml.contains("<CdtrAgt>"));
}

#[test]
fn pain_008_collects_under_mandates() {
    let xml = pain_008(&batch(vec![
        debit(CASE_A, 8_250, "Anna Schmidt"),
        debit(CASE_B, 1_750, "Jean Dupont"),
    ]))
    .unwrap();
    assert_eq!(xml.matches("<NbOfTxs>2</NbOfTxs>").count(), 2);
    assert_eq!(xml.matches("<CtrlSum>100.00</CtrlSum>").count(), 2);
    assert!(xml.contains("<Id>DE98ZZZ09999999999</Id>"));
    assert!(xml.contains("<MndtId>SI-2026-000017</MndtId>"));
    assert!(xml.contains("<DtOfSgntr>2026-03-01</DtOfSgntr>"));
    assert!(xml.contains("<SeqTp>RCUR</SeqTp>"));
    assert!(xml.contains("<ReqdColltnDt>2026-12-10</ReqdColltnDt>"));
    assert!(
        xml.contains(
            "<Ustrd>Premium case c-fedcba9876543210fedcba9876543210 period 2026-12</Ustrd>"
        )
    );
    assert!(xml.contains("<IBAN>FR1420041010050500013M02606</IBAN>"));
}

#[test]
fn bad_batches_name_what_is_wrong() {
    let at = "instructions[0] (C-02FAPL4N1AZS5KKWZRXA98BN3-202612)";
    type Breaker = Box<dyn Fn(&mut Batch)>;
    let cases: Vec<(Breaker, String)> = vec![
        (Box::new(|b| b.instructions[0].amount_minor = 0), format!("{at}.amount_minor: amount 0 minor units is out of range: it must be between 1 and 999999999999 (9999999999.99)")),
        (Box::new(|b| b.instructions[0].iban = "DE88370400440532013000".into()), format!("{at}.iban: invalid IBAN: the check digits do not match (mod-97 check failed)")),
        (Box::new(|b| b.instructions[0].bic = Some("BANK".into())), format!("{at}.bic: invalid BIC: it must be 8 or 11 characters, 6 letters, then 2 letters or digits (the second not O), then optionally 3 letters or digits")),
        (Box::new(|b| b.instructions[0].currency = "eur".into()), format!("{at}.currency: currency \"eur\" is not an ISO 4217 code (three upper-case letters, such as EUR)")),
        (Box::new(|b| b.instructions[0].remittance = String::new()), format!("{at}.remittance: it is empty")),
        (Box::new(|b| b.instructions[0].period = period(2027, 1)), format!("{at}.end_to_end_id: invalid identifier \"C-02FAPL4N1AZS5KKWZRXA98BN3-202612\": it must be C-02FAPL4N1AZS5KKWZRXA98BN3-202701, derived from the direction, case id and period")),
        (Box::new(|b| b.instructions[0].mandate = Some(Mandate { id: "M1".into(), signed_on: date(2026, 1, 1) })), format!("batch: {at}: a credit transfer has no mandate; remove it")),
        (Box::new(|b| b.instructions[0].direction = Direction::Debit), format!("batch: {at}: a debit instruction cannot go into a credit-transfer file (pain.001)")),
        (Box::new(|b| b.message_id = "MLG 2026".into()), "message_id: invalid identifier \"MLG 2026\": character ' ' at position 4 is not allowed (letters, digits and / - ? : ( ) . , ' + only)".into()),
        (Box::new(|b| b.party.iban = "DE0212030000000020205".into()), "party.iban: invalid IBAN: an IBAN of DE has 22 characters, this one has 21".into()),
        (Box::new(|b| b.party.name = "Dept <civil>".into()), "party.name: character '<' at position 6 is outside the SEPA character set and has no transliteration".into()),
        (Box::new(|b| b.instructions.clear()), "batch: it has no instructions; a file needs at least one".into()),
        (Box::new(|b| { let copy = b.instructions[0].clone(); b.instructions.push(copy) }), "batch: instructions[1] (C-02FAPL4N1AZS5KKWZRXA98BN3-202612): the end-to-end id appears twice; a payment would be made twice".into()),
        (Box::new(|b| { let mut other = credit(CASE_B, 5, "Jean Dupont"); other.currency = "CHF".into(); b.instructions.push(other) }), "instructions[1] (C-F36N7GVC4ENWME2TGTKPDKDG0-202612).currency: currency \"CHF\" differs from the batch's first currency EUR; one file holds one currency".into()),
    ];
    for (break_it, expected) in cases {
        let mut file = batch(vec![credit(CASE_A, 100, "Anna Schmidt")]);
        break_it(&mut file);
        assert_eq!(error(pain_001(&file)), expected);
    }
}

#[test]
fn bad_debit_batches_name_what_is_wrong() {
    let at = "instructions[0] (D-02FAPL4N1AZS5KKWZRXA98BN3-202612)";
    let mut file = batch(vec![debit(CASE_A, 100, "Anna Schmidt")]);
    file.party.creditor_id = None;
    assert_eq!(
        error(pain_008(&file)),
        "party.creditor_id: invalid SEPA creditor identifier: a direct debit needs the agency's SEPA creditor identifier"
    );
    let mut file = batch(vec![debit(CASE_A, 100, "Anna Schmidt")]);
    file.instructions[0].mandate = None;
    assert_eq!(
        error(pain_008(&file)),
        format!("batch: {at}: a direct debit needs the payer's mandate")
    );
    let mut file = batch(vec![debit(CASE_A, 100, "Anna Schmidt")]);
    file.instructions[0].mandate = Some(Mandate { id: "/M1".into(), signed_on: date(2026, 1, 1) });
    assert_eq!(
        error(pain_008(&file)),
        format!(
            "{at}.mandate.id: invalid identifier \"/M1\": it must not start or end with / or contain //"
        )
    );
    let file = batch(vec![credit(CASE_A, 100, "Anna Schmidt")]);
    assert_eq!(
        error(pain_008(&file)),
        "batch: instructions[0] (C-02FAPL4N1AZS5KKWZRXA98BN3-202612): a credit instruction cannot go into a direct-debit file (pain.008)"
    );
}

#[test]
fn debug_output_holds_no_personal_data() {
    let instruction = debit(CASE_A, 100, "Anna Schmidt");
    let entitlement = Entitlement {
        case_id: CASE_A.into(),
        monthly_amount_minor: 100,
        direction: Direction::Debit,
        first_period: period(2026, 1),
        last_period: None,
        counterparty: payer("Anna Schmidt"),
    };
    for debug in [
        format!("{instruction:?}"),
        format!("{entitlement:?}"),
        format!("{:?}", batch(vec![instruction.clone()])),
    ] {
        assert!(!debug.contains("Anna"), "{debug}");
        assert!(!debug.contains("FR14"), "{debug}");
        assert!(debug.contains(CASE_A), "{debug}");
    }
}

#[test]
fn executions_lead_back_to_the_case_and_round_trip_as_json() {
    let execution = Execution {
        end_to_end_id: end_to_end_id(Direction::Credit, CASE_A, period(2026, 12)).unwrap(),
        executed_on: date(2026, 12, 10),
        status: ExecutionStatus::Rejected { reason_code: "AC04".into() },
    };
    let json = serde_json::to_string(&execution).unwrap();
    assert_eq!(
        json,
        r#"{"end_to_end_id":"C-02FAPL4N1AZS5KKWZRXA98BN3-202612","executed_on":"2026-12-10","status":{"kind":"rejected","reason_code":"AC04"}}"#
    );
    assert_eq!(serde_json::from_str::<Execution>(&json).unwrap(), execution);
    assert_eq!(
        execution.payment().unwrap(),
        PaymentRef {
            direction: Direction::Credit,
            case_id: CASE_A.into(),
            period: period(2026, 12)
        }
    );
    assert!(
        serde_json::from_str::<Execution>(
            r#"{"end_to_end_id":"x","executed_on":"2026-02-30","status":{"kind":"settled"}}"#
        )
        .is_err()
    );
}
