//! The four social-security services of the seed paper end to end through
//! the CLI against a running node: applications with documents sealed to
//! the case's participants, automatic checks (one fact from another
//! department's shared asset, recorded with its version and hash), every
//! review step by the right organisation and reviewer role, signed and
//! sealed decisions anchored on the ledger, and the month's ISO 20022 files
//! validated against the published XSDs and recorded back on the cases.
//! Then every refusal the issue names, a fifth service defined at run time,
//! a tampered document named on fetch and an audit that flags a verdict
//! changed by hand, and a case that survives its node being killed.

use std::path::{Path, PathBuf};

use cairn_tests::{CliOutput, Node, Start, arg, cairn, key_address, on};
use serde_json::{Value, json};

const ORGS: [&str; 11] = [
    "ca",
    "civil-registry",
    "social-insurance-agency",
    "civil-affairs",
    "neighbourhood-committee",
    "sub-district-accounting",
    "democratic-review",
    "welfare-institute",
    "county-welfare",
    "hospital-consultation",
    "bank",
];
/// The certificate types the services' approvals issue, with their issuers.
const ISSUERS: [&str; 5] = [
    "heating-allowance=civil-affairs",
    "social-insurance-participation=social-insurance-agency",
    "social-assistance=civil-affairs",
    "social-welfare=welfare-institute",
    "minimum-living-guarantee=civil-affairs",
];
/// (key name, organisation, reviewer role)
const REVIEWERS: [(&str, &str, &str); 16] = [
    ("ca-intake", "civil-affairs", "intake_officer"),
    ("ca-officer", "civil-affairs", "case_officer"),
    ("ca-appeal", "civil-affairs", "appeal_officer"),
    ("surveyor", "neighbourhood-committee", "household_surveyor"),
    ("accountant", "sub-district-accounting", "income_accountant"),
    ("democratic", "democratic-review", "democratic_reviewer"),
    ("wi-intake", "welfare-institute", "intake_officer"),
    ("wi-officer", "welfare-institute", "welfare_officer"),
    ("wi-appeal", "welfare-institute", "appeal_officer"),
    ("county", "county-welfare", "acceptance_officer"),
    ("doctor", "hospital-consultation", "consultation_doctor"),
    ("si-intake", "social-insurance-agency", "intake_officer"),
    ("si-checker", "social-insurance-agency", "background_checker"),
    ("si-officer", "social-insurance-agency", "case_officer"),
    ("si-appeal", "social-insurance-agency", "appeal_officer"),
    ("clerk", "bank", "payment_clerk"),
];
const PROVIDERS: [(&str, &str); 4] = [
    ("civil-affairs-provider", "civil-affairs"),
    ("welfare-provider", "welfare-institute"),
    ("insurance-provider", "social-insurance-agency"),
    ("registry-provider", "civil-registry"),
];
const CITIZENS: [&str; 6] = ["lucy", "lily", "mark", "li", "wang", "zhao"];
const MONTH: &str = "2026-12";

struct World {
    dir: tempfile::TempDir,
    node: Node,
    store: String,
    person_key: PathBuf,
}

impl World {
    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.key"))
    }

    fn org_key(&self, org: &str) -> PathBuf {
        self.dir.path().join("genesis").join(format!("org-{org}.key"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> CliOutput {
        on(&self.node, args)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.run(&all).assert_success().json()
    }

    #[track_caller]
    fn refused(&self, args: &[&str], needle: &str) {
        let before = self.state_root();
        let _ = self.run(args).assert_failure_with(needle);
        assert_eq!(self.state_root(), before, "a refused action moved the state root");
    }

    fn state_root(&self) -> String {
        self.ok(&["node", "info"])["state_root"].as_str().unwrap_or_default().to_owned()
    }

    fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, value.to_string()).expect("write json");
        path
    }

    fn doc(&self, name: &str) -> String {
        let path = self.path(&format!("{name}.bin"));
        std::fs::write(&path, format!("scan of {name}: {}", "x".repeat(2048))).expect("write doc");
        path.display().to_string()
    }

    /// Applies; returns the case id.
    #[track_caller]
    fn apply(&self, service: &str, citizen: &str, form: &Value, docs: &[&str]) -> String {
        let form_path = self.write_json(&format!("{service}-{citizen}-form.json"), form);
        let key = self.key(citizen);
        let mut args = vec![
            "case",
            "apply",
            "--service",
            service,
            "--key",
            arg(&key),
            "--person-key",
            arg(&self.person_key),
            "--form",
            arg(&form_path),
            "--store",
            &self.store,
        ];
        let specs: Vec<String> =
            docs.iter().map(|d| format!("{d}={}", self.doc(&format!("{citizen}-{d}")))).collect();
        for spec in &specs {
            args.extend(["--doc", spec.as_str()]);
        }
        let out = self.ok(&args);
        assert_eq!(out["state"], "submitted", "{out}");
        out["case_id"].as_str().expect("case id").to_owned()
    }

    #[track_caller]
    fn check(&self, case: &str, who: &str, facts: &[&str]) -> Value {
        let key = self.key(who);
        let mut args = vec![
            "case",
            "check",
            case,
            "--key",
            arg(&key),
            "--store",
            &self.store,
            "--person-key",
            arg(&self.person_key),
        ];
        for fact in facts {
            args.extend(["--fact", fact]);
        }
        args.extend(["--evidence", "id_validity=asset:civil-registry/id-validity@1"]);
        self.ok(&args)
    }

    #[track_caller]
    fn step(&self, case: &str, step: &str, who: &str, outputs: &[&str]) -> Value {
        let key = self.key(who);
        let mut args = vec![
            "case",
            "step",
            case,
            "--step",
            step,
            "--key",
            arg(&key),
            "--pass",
            "--reason",
            "checked on site",
        ];
        for output in outputs {
            args.extend(["--output", output]);
        }
        self.ok(&args)
    }

    #[track_caller]
    fn decide(&self, case: &str, who: &str, outcome: &str) -> Value {
        let key = self.key(who);
        let out = self.path("decisions");
        let mut args = vec![
            "case",
            "decide",
            case,
            "--key",
            arg(&key),
            outcome,
            "--store",
            &self.store,
            "--out",
            arg(&out),
        ];
        if outcome != "--approve" {
            args.extend(["--reason", "the household's documents disagree"]);
        }
        self.ok(&args)
    }

    fn case(&self, case: &str, who: &str) -> Value {
        let key = self.key(who);
        self.ok(&["case", "show", case, "--key", arg(&key)])
    }
}

fn bank(iban: &str, holder: &str) -> Value {
    json!({"iban": iban, "bic": "COBADEFFXXX", "holder": holder})
}

fn start() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let genesis = dir.path().join("genesis");
    let mut args =
        vec!["genesis", "new", "--chain-id", "social", "--ca", "ca", "--out-dir", arg(&genesis)];
    for org in ORGS {
        args.extend(["--org", org]);
    }
    for issuer in ISSUERS {
        args.extend(["--issuer", issuer]);
    }
    let _ = cairn(args).assert_success();
    let data = dir.path().join("data");
    let node =
        Node::start(&data, Start::Genesis(&genesis.join("genesis.json"))).expect("start the node");
    let store_dir = dir.path().join("ods");
    std::fs::create_dir_all(&store_dir).expect("store dir");
    let store = format!("file://{}", store_dir.display());
    let person_key = dir.path().join("person.key");
    let _ = cairn(["case", "person-key", arg(&person_key)]).assert_success();
    let world = World { dir, node, store, person_key };
    let ca = world.org_key("ca");
    let register = |name: &str, org: &str, role: &str, reviewer_role: Option<&str>| {
        let key = world.key(name);
        let _ = cairn(["key", "new", "--out", arg(&key)]).assert_success();
        let own = world.org_key(org);
        let mut args = vec![
            "identity",
            "register",
            "--key",
            arg(&key),
            "--name",
            name,
            "--org",
            org,
            "--role",
            role,
            "--endorser-key",
            arg(&ca),
        ];
        if let Some(reviewer_role) = reviewer_role {
            args.extend(["--reviewer-role", reviewer_role, "--org-key", arg(&own)]);
        }
        let _ = world.ok(&args);
    };
    for (name, org, role) in REVIEWERS {
        register(name, org, "reviewer", Some(role));
    }
    for (name, org) in PROVIDERS {
        register(name, org, "provider", None);
    }
    for citizen in CITIZENS {
        register(citizen, "holders", "public", None);
    }
    register("auditor", "ca", "auditor", None);
    // The node anchors the certificate channels the approvals issue into, so
    // that holders can present their certificates.
    let node_key = world.node.data_dir().join("node.key");
    let _ = world.ok(&[
        "identity",
        "register",
        "--key",
        arg(&node_key),
        "--name",
        "civil affairs node",
        "--org",
        "civil-affairs",
        "--role",
        "node",
        "--endorser-key",
        arg(&ca),
        "--org-key",
        arg(&world.org_key("civil-affairs")),
    ]);
    for (file, _) in cairn_schemas::services::ALL {
        let definition = cairn_tests::workspace_dir().join("schemas/services").join(file);
        let owner: Value =
            serde_json::from_str(&std::fs::read_to_string(&definition).expect("definition"))
                .expect("json");
        let owner = owner["owner"].as_str().expect("owner").to_owned();
        let provider = PROVIDERS.iter().find(|(_, org)| *org == owner).expect("provider").0;
        let _ = world.ok(&[
            "service",
            "define",
            arg(&definition),
            "--key",
            arg(&world.key(provider)),
            "--org-key",
            arg(&world.org_key(&owner)),
        ]);
    }
    // The civil registry's ID-validity data, shared with the intake officers:
    // the checks cite its version and content hash.
    let registry = world.path("id-validity.csv");
    std::fs::write(&registry, "document,valid_until\nBAG5689213256892126896,2030-01-01\n")
        .expect("registry file");
    let provider = world.key("registry-provider");
    let _ = world.ok(&[
        "asset",
        "publish",
        "--key",
        arg(&provider),
        "--asset-id",
        "civil-registry/id-validity",
        "--file",
        arg(&registry),
    ]);
    let intakes: Vec<String> = ["ca-intake", "wi-intake", "si-intake"]
        .iter()
        .map(|k| key_address(&world.key(k)))
        .collect();
    let mut share =
        vec!["asset", "share", "--key", arg(&provider), "--asset-id", "civil-registry/id-validity"];
    for address in &intakes {
        share.extend(["--authorise", address.as_str()]);
    }
    let _ = world.ok(&share);
    world
}

fn mlg_form(id: &str, income: i64) -> Value {
    json!({
        "id_number": id, "name": "Li Lei", "address": "1 Orchard Road",
        "household_members": [{"relation": "self"}, {"relation": "spouse"}, {"relation": "child"}],
        "declared_monthly_income": income, "household_property": 10000,
        "bank_account": bank("DE89370400440532013000", "Li Lei"),
    })
}

const MLG_DOCS: [&str; 4] = ["id_card", "household_register", "income_proof", "bank_card"];

#[test]
fn the_four_services_from_application_to_payment() {
    let w = start();
    let valid_id = "id_card_expires_on=2030-01-01";
    let mut approved = Vec::new();

    // Minimum living guarantee: (threshold 800.00 − 900.00/3) × 3 = 1500.00 a month.
    let mlg = w.apply("minimum-living-guarantee", "li", &mlg_form("BAG100", 90000), &MLG_DOCS);
    assert_eq!(w.check(&mlg, "ca-intake", &[valid_id])["state"], "checked");
    let queue = w.ok(&["case", "list", "--queue", "--key", arg(&w.key("surveyor"))]);
    assert_eq!(queue["cases"].as_array().map(Vec::len), Some(1), "{queue}");
    // The survey is due 15 days after the checks: not overdue now, overdue
    // in a year, when the case heads the escalation list.
    let overdue = |who: &str, as_of: &str| {
        let mut args = vec!["case", "list", "--overdue", "--key"];
        let key = w.key(who);
        args.push(arg(&key));
        if !as_of.is_empty() {
            args.extend(["--as-of", as_of]);
        }
        w.ok(&args)["cases"].as_array().cloned().unwrap_or_default()
    };
    assert!(overdue("ca-officer", "").is_empty());
    let late = overdue("ca-officer", "2099-01-01T00:00:00Z");
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["case_id"], mlg.as_str());
    assert_eq!(late[0]["overdue"][0]["step"], "household_survey");
    assert_eq!(late[0]["overdue"][0]["actor"], "neighbourhood-committee/household_surveyor");
    // A citizen with no case sees no one's.
    assert!(overdue("lily", "2099-01-01T00:00:00Z").is_empty());
    let _ = w.step(&mlg, "household_survey", "surveyor", &[]);
    // The two steps after the survey run in either order.
    let _ = w.step(&mlg, "democratic_review", "democratic", &[]);
    let _ = w.step(
        &mlg,
        "income_accounting",
        "accountant",
        &["household_monthly_income=90000", "members=3"],
    );
    let decided = w.decide(&mlg, "ca-officer", "--approve");
    assert_eq!(decided["amount"], 150000, "{decided}");
    approved.push((mlg, "credit", "li", "minimum-living-guarantee"));

    // Social assistance (Algorithm 2): the accounting team sets the amount.
    let form = json!({
        "id_number": "BAB565254178921636982", "name": "LiLy", "family": [{"relation": "self"}],
        "monthly_income": 50000, "property": 100000, "employed": false,
        "bank_account": bank("GB82WEST12345698765432", "LiLy"),
    });
    let sa = w.apply(
        "social-assistance",
        "lily",
        &form,
        &["id_card", "family_information", "income_status", "property_status", "bank_card"],
    );
    assert_eq!(w.check(&sa, "ca-intake", &[valid_id])["state"], "checked");
    let _ = w.step(&sa, "household_survey", "surveyor", &[]);
    let _ = w.step(&sa, "income_accounting", "accountant", &["assistance_amount=30000"]);
    let _ = w.step(&sa, "democratic_review", "democratic", &[]);
    assert_eq!(w.decide(&sa, "ca-officer", "--approve")["amount"], 30000);
    approved.push((sa, "credit", "lily", "social-assistance"));

    // Social welfare (Algorithm 3): county acceptance, then the hospital team's conclusion.
    let form = json!({
        "id_number": "BAB266132217931320697", "name": "Mark", "employment_status": "retired", "monthly_income": 20000,
        "injury": {"time_of_injury": "2009-10-11", "type_of_injury": "leg injury", "approving_unit": "IBC"},
        "bank_account": bank("FR1420041010050500013M02606", "Mark"),
    });
    let sw = w.apply(
        "social-welfare",
        "mark",
        &form,
        &["id_card", "medical_records", "injury_proof", "photo", "bank_card"],
    );
    assert_eq!(
        w.check(&sw, "wi-intake", &[valid_id, "medical_records_valid=1", "injury_proof_valid=1"])["state"],
        "checked"
    );
    let _ = w.step(&sw, "county_acceptance", "county", &[]);
    let _ = w.step(&sw, "medical_consultation", "doctor", &["disability_grade=6"]);
    // max(0, 1500.00 − 200.00) + 200.00 × (11 − 6).
    assert_eq!(w.decide(&sw, "wi-officer", "--approve")["amount"], 230000);
    approved.push((sw, "credit", "mark", "social-welfare"));

    // Social insurance (Algorithm 1): premiums withheld at the payment ratio.
    let form = json!({
        "id_number": "BAG5689213256892126896", "name": "Lucy", "employer": "IBC",
        "declared_monthly_income": 500000, "payment_ratio_bp": 800,
        "bank_account": bank("NL91ABNA0417164300", "Lucy"),
    });
    let si = w.apply(
        "social-insurance",
        "lucy",
        &form,
        &["id_card", "bank_card", "photo", "income_proof"],
    );
    assert_eq!(w.check(&si, "si-intake", &[valid_id, "bank_balance=100000"])["state"], "checked");
    let _ = w.step(&si, "background_check", "si-checker", &[]);
    assert_eq!(w.decide(&si, "si-officer", "--approve")["amount"], 40000);
    approved.push((si, "debit", "lucy", "social-insurance-participation"));

    // Each decision verifies offline and against the ledger.
    for (case, _, _, _) in &approved {
        let file = w.path("decisions").join(format!("{case}-decision.json"));
        let shown = w.ok(&["case", "verify-decision", arg(&file), "--key", arg(&w.key("auditor"))]);
        assert_eq!(shown["valid"], true, "{shown}");
        assert!(w.path("decisions").join(format!("{case}-decision.pdf")).exists());
    }

    // Each approval issued its service's certificate to the applicant, in
    // the certificate channels: the holder lists it, presents it, and a
    // verifier checks the presentation.
    for (case, _, citizen, certificate_type) in &approved {
        let shown = w.case(case, citizen);
        let certificate_id =
            shown["decisions"][0]["certificate_id"].as_str().expect("certificate id");
        let listed = w.ok(&["cert", "list", "--key", arg(&w.key(citizen))]);
        let listed = listed.as_array().expect("a list");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["certificate_id"], certificate_id);
        assert_eq!(listed[0]["type"], *certificate_type);
        let presentation = w.path(&format!("{citizen}-presentation.txt"));
        let _ = w
            .run(&[
                "cert",
                "present",
                certificate_id,
                "--key",
                arg(&w.key(citizen)),
                "--out",
                arg(&presentation),
            ])
            .assert_success();
        let verified = w.ok(&[
            "cert",
            "verify",
            "--presentation",
            arg(&presentation),
            "--type",
            certificate_type,
        ]);
        assert_eq!(verified["valid"], true, "{verified}");
    }

    // The bank's clerk writes the month's files and records the payments.
    let out = w.path("payments");
    let paid = w.ok(&[
        "case",
        "payments",
        "--key",
        arg(&w.key("clerk")),
        "--month",
        MONTH,
        "--store",
        &w.store,
        "--out",
        arg(&out),
        "--party-name",
        "County Treasury",
        "--party-iban",
        "DE02120300000000202051",
        "--party-bic",
        "BYLADEM1001",
        "--creditor-id",
        "DE98ZZZ09999999999",
        "--record",
    ]);
    assert_eq!(paid["instructions"], 4, "{paid}");
    assert_eq!(paid["recorded"], 4, "{paid}");
    for (file, xsd) in [("pain.001", "pain.001.001.03.xsd"), ("pain.008", "pain.008.001.02.xsd")] {
        validate_xsd(&out.join(format!("{file}-{MONTH}.xml")), xsd);
    }
    for (case, direction, _, _) in &approved {
        let shown = w.case(case, "auditor");
        assert_eq!(shown["state"], "paid", "{shown}");
        assert_eq!(shown["payments"][0]["direction"], *direction, "{shown}");
        let audit = w.ok(&["case", "audit", case, "--key", arg(&w.key("auditor"))]);
        assert_eq!(audit["ok"], true, "{audit}");
    }
    // A second run finds nothing more due this month.
    let again = w.ok(&[
        "case",
        "payments",
        "--key",
        arg(&w.key("clerk")),
        "--month",
        MONTH,
        "--store",
        &w.store,
        "--out",
        arg(&out),
        "--party-name",
        "County Treasury",
        "--party-iban",
        "DE02120300000000202051",
        "--record",
    ]);
    assert_eq!(again["instructions"], 0, "{again}");
    // No personal data in anything the node wrote (ledger log, access-event
    // log, state): not an IBAN, not an ID number.
    for secret in ["NL91ABNA0417164300", "BAG5689213256892126896", "BAB266132217931320697"] {
        assert_no_file_contains(w.node.data_dir(), secret.as_bytes());
    }
}

fn assert_no_file_contains(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).expect("read dir").filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            assert_no_file_contains(&path, needle);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds personal data {:?}",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}

fn validate_xsd(file: &Path, xsd: &str) {
    let script = format!(
        "import os, sys, sepaxml, xmlschema\n\
         schema = xmlschema.XMLSchema(os.path.join(os.path.dirname(sepaxml.__file__), 'schemas', '{xsd}'))\n\
         schema.validate(sys.argv[1])\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, arg(file)])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{} is not valid against {xsd}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refusals_returns_appeals_tampering_and_a_fifth_service() {
    let w = start();
    let valid_id = "id_card_expires_on=2030-01-01";

    // An incomplete form is refused by the applicant's client, naming the field.
    let mut incomplete = mlg_form("BAG200", 90000);
    let _ = incomplete.as_object_mut().map(|m| m.remove("address"));
    let form_path = w.write_json("incomplete.json", &incomplete);
    let key = w.key("wang");
    let apply = [
        "case",
        "apply",
        "--service",
        "minimum-living-guarantee",
        "--key",
        arg(&key),
        "--person-key",
        arg(&w.person_key),
        "--form",
        arg(&form_path),
        "--store",
        &w.store,
    ];
    let _ = w.run(&apply).assert_failure_with("address");
    // Submitted anyway, the checks return it; supplied with a complete form, it is approved.
    let mut forced = apply.to_vec();
    forced.push("--submit-incomplete");
    let docs: Vec<String> = MLG_DOCS.iter().map(|d| format!("{d}={}", w.doc(d))).collect();
    for doc in &docs {
        forced.extend(["--doc", doc.as_str()]);
    }
    forced.push("--json");
    let returned =
        w.run(&forced).assert_success().json()["case_id"].as_str().expect("case").to_owned();
    assert_eq!(w.check(&returned, "ca-intake", &[valid_id])["state"], "returned");
    let shown = w.case(&returned, "wang");
    assert_eq!(shown["verdicts"][0]["reason"], "the application form is incomplete", "{shown}");
    let complete = w.write_json("complete.json", &mlg_form("BAG200", 90000));
    let supplied = w.ok(&[
        "case",
        "supply",
        &returned,
        "--key",
        arg(&key),
        "--form",
        arg(&complete),
        "--store",
        &w.store,
    ]);
    assert_eq!(supplied["state"], "submitted");
    assert_eq!(w.check(&returned, "ca-intake", &[valid_id])["state"], "checked");

    // A second open application by the same person (another key, same ID number) is refused.
    w.refused(
        &[
            "case",
            "apply",
            "--service",
            "minimum-living-guarantee",
            "--key",
            arg(&w.key("zhao")),
            "--person-key",
            arg(&w.person_key),
            "--form",
            arg(&complete),
            "--store",
            &w.store,
            "--doc",
            &docs[0],
            "--doc",
            &docs[1],
            "--doc",
            &docs[2],
            "--doc",
            &docs[3],
        ],
        "duplicate_application",
    );

    // A reviewer of the wrong organisation or role, a step out of order, the
    // applicant deciding their own case, a decision before the steps.
    w.refused(
        &[
            "case",
            "step",
            &returned,
            "--step",
            "household_survey",
            "--key",
            arg(&w.key("accountant")),
            "--pass",
        ],
        "household_surveyor",
    );
    w.refused(
        &[
            "case",
            "step",
            &returned,
            "--step",
            "income_accounting",
            "--key",
            arg(&w.key("accountant")),
            "--pass",
            "--output",
            "household_monthly_income=1",
            "--output",
            "members=1",
        ],
        "out of order",
    );
    w.refused(
        &["case", "step", &returned, "--step", "household_survey", "--key", arg(&key), "--pass"],
        "not_authorised",
    );
    let decisions = w.path("decisions");
    // (Rejections: an approval's amount cannot even be computed before the steps.)
    let reject = |who: &Path| -> Vec<String> {
        [
            "case",
            "decide",
            &returned,
            "--key",
            arg(who),
            "--reject",
            "--reason",
            "no",
            "--store",
            &w.store,
            "--out",
            arg(&decisions),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let applicant_decides = reject(&key);
    w.refused(&applicant_decides.iter().map(String::as_str).collect::<Vec<_>>(), "not_authorised");
    let too_early = reject(&w.key("ca-officer"));
    w.refused(
        &too_early.iter().map(String::as_str).collect::<Vec<_>>(),
        "cannot be decided before its steps",
    );

    // Expired ID and income above the threshold: rejected with reasons.
    let expired = w.apply("minimum-living-guarantee", "li", &mlg_form("BAG300", 90000), &MLG_DOCS);
    assert_eq!(
        w.check(&expired, "ca-intake", &["id_card_expires_on=2020-01-01"])["state"],
        "rejected"
    );
    assert_eq!(w.case(&expired, "li")["decisions"][0]["reasons"][0], "the ID card has expired");
    let rich = w.apply("minimum-living-guarantee", "lily", &mlg_form("BAG400", 600000), &MLG_DOCS);
    assert_eq!(w.check(&rich, "ca-intake", &[valid_id])["state"], "rejected");
    assert_eq!(
        w.case(&rich, "lily")["decisions"][0]["reasons"][0],
        "household income per person is above the local threshold"
    );

    // Rejected after review, appealed once; the deciding reviewer may not decide the appeal.
    let _ = w.step(&returned, "household_survey", "surveyor", &[]);
    let _ = w.step(
        &returned,
        "income_accounting",
        "accountant",
        &["household_monthly_income=90000", "members=3"],
    );
    let _ = w.step(&returned, "democratic_review", "democratic", &[]);
    assert_eq!(w.decide(&returned, "ca-officer", "--reject")["state"], "rejected");
    let _ = w.ok(&[
        "case",
        "appeal",
        &returned,
        "--key",
        arg(&key),
        "--reason",
        "our income was misread",
    ]);
    w.refused(
        &[
            "case",
            "decide",
            &returned,
            "--key",
            arg(&w.key("ca-officer")),
            "--approve",
            "--store",
            &w.store,
            "--out",
            arg(&decisions),
        ],
        "appeal_officer",
    );
    assert_eq!(w.decide(&returned, "ca-appeal", "--approve")["state"], "approved");
    w.refused(
        &["case", "appeal", &returned, "--key", arg(&key), "--reason", "again"],
        "appealed once",
    );
    let timeline = w.ok(&["case", "timeline", &returned, "--key", arg(&key)]);
    let actions: Vec<&str> = timeline["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["apply", "check", "supply", "check", "step", "step", "step", "decide", "appeal", "decide"]
    );

    // Case reads are for the applicant, the service's reviewers and auditors:
    // another citizen lists none of this person's cases, and an unregistered
    // key reads nothing, not even the services.
    let others = w.ok(&["case", "list", "--key", arg(&w.key("lucy"))]);
    assert!(!others.to_string().contains(&returned), "{others}");
    let stranger = w.path("stranger.key");
    let _ = cairn(["key", "new", "--out", arg(&stranger)]).assert_success();
    let _ = w
        .run(&["service", "list", "--key", arg(&stranger)])
        .assert_failure_with("no identity with this address is registered");
    let _ = w
        .run(&["case", "show", &returned, "--key", arg(&stranger)])
        .assert_failure_with("no identity with this address is registered");
    let _ = w
        .run(&["case", "show", &returned, "--key", arg(&w.key("lucy"))])
        .assert_failure_with("only the applicant");
    let _ = w
        .run(&["case", "show", &returned, "--key", arg(&w.key("doctor"))])
        .assert_failure_with("only the applicant");

    // A tampered sealed document is named on fetch.
    let out = w.path("fetched.bin");
    let _ = w.ok(&[
        "case",
        "fetch",
        &returned,
        "--doc",
        "id_card",
        "--key",
        arg(&w.key("surveyor")),
        "--store",
        &w.store,
        "--out",
        arg(&out),
    ]);
    let sealed = find_sealed(&w.dir.path().join("ods"), &returned, "id_card");
    let mut bytes = std::fs::read(&sealed).expect("sealed object");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sealed, bytes).expect("tamper");
    let _ = w
        .run(&[
            "case",
            "fetch",
            &returned,
            "--doc",
            "id_card",
            "--key",
            arg(&w.key("surveyor")),
            "--store",
            &w.store,
            "--out",
            arg(&out),
        ])
        .assert_failure_with("document \"id_card\" of case");

    // The audit recomputes every verdict, and flags one changed by hand in an export.
    let audit =
        w.ok(&["case", "audit", &expired, "--key", arg(&w.key("ca-intake")), "--store", &w.store]);
    assert_eq!(audit["ok"], true, "{audit}");
    let mut export = w.case(&expired, "auditor");
    export["verdicts"][2]["passed"] = Value::Bool(true);
    let export_path = w.write_json("export.json", &export);
    let _ = w
        .run(&[
            "case",
            "audit",
            &expired,
            "--key",
            arg(&w.key("auditor")),
            "--case-file",
            arg(&export_path),
        ])
        .assert_failure_with("do not recompute");

    // A fifth service, defined from a file at run time and used at once.
    let fifth = cairn_schemas::services::SOCIAL_ASSISTANCE
        .replace("\"social-assistance\"", "\"heating-allowance\"")
        .replace("Social assistance", "Winter heating allowance");
    let fifth_path = w.path("heating-allowance.json");
    std::fs::write(&fifth_path, fifth).expect("fifth definition");
    let _ = w.ok(&[
        "service",
        "define",
        arg(&fifth_path),
        "--key",
        arg(&w.key("civil-affairs-provider")),
        "--org-key",
        arg(&w.org_key("civil-affairs")),
    ]);
    let form = json!({
        "id_number": "BAB999", "name": "Zhao", "family": [{"relation": "self"}],
        "monthly_income": 10000, "property": 0, "employed": false, "bank_account": bank("DE89370400440532013000", "Zhao"),
    });
    let heating = w.apply(
        "heating-allowance",
        "zhao",
        &form,
        &["id_card", "family_information", "income_status", "property_status", "bank_card"],
    );
    assert_eq!(w.check(&heating, "ca-intake", &[valid_id])["state"], "checked");
    let listed = w.ok(&["service", "list", "--key", arg(&w.key("zhao"))]);
    assert_eq!(listed["services"].as_array().map(Vec::len), Some(5), "{listed}");
    // Withdrawn before a decision.
    assert_eq!(
        w.ok(&["case", "withdraw", &heating, "--key", arg(&w.key("zhao"))])["state"],
        "withdrawn"
    );
}

/// The encrypted object of a sealed document in a local store.
fn find_sealed(root: &Path, case: &str, name: &str) -> PathBuf {
    let dir = root.join("cases").join(case).join(name).join("sealed");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no sealed object under {}", dir.display()))
}

#[test]
fn a_case_survives_a_killed_node() {
    let w = start();
    let case = w.apply("minimum-living-guarantee", "li", &mlg_form("BAG500", 90000), &MLG_DOCS);
    assert_eq!(w.check(&case, "ca-intake", &["id_card_expires_on=2030-01-01"])["state"], "checked");
    let _ = w.step(&case, "household_survey", "surveyor", &[]);
    let before = w.case(&case, "auditor");
    // SIGKILL mid-flow: every acknowledged action is on disk.
    let World { dir, node, store, person_key } = w;
    let _ = node.kill().expect("kill the node");
    let node = Node::start(&dir.path().join("data"), Start::Existing).expect("restart the node");
    let w = World { dir, node, store, person_key };
    let after = w.case(&case, "auditor");
    assert_eq!(
        after, before,
        "the case after the restart differs from the one acknowledged before the kill"
    );
    let _ = w.step(&case, "democratic_review", "democratic", &[]);
    let _ = w.step(
        &case,
        "income_accounting",
        "accountant",
        &["household_monthly_income=90000", "members=3"],
    );
    assert_eq!(w.decide(&case, "ca-officer", "--approve")["amount"], 150000);
    let history = w.case(&case, "auditor")["history"].as_array().map(Vec::len);
    assert_eq!(history, Some(6), "apply, check, three steps and the decision");
}
