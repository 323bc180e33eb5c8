//! The fictional applications of the demo citizens: each form, the facts the
//! intake officer records, and what each review step finds. The forms hold
//! made-up personal data; they are only ever sealed, never printed or logged.

use anyhow::bail;
use serde_json::{Value as Json, json};

/// What one demo citizen applies with and what the reviewers find. All of
/// it is fictional; the form is sealed and never printed.
pub(super) struct Application {
    /// The application form.
    pub(super) form: Json,
    /// The flag fact that says whether the form is complete, which the
    /// intake officer reads off the sealed form itself.
    pub(super) completeness_fact: &'static str,
    /// The other facts of the automatic checks, with the ID card's expiry
    /// as days from today.
    pub(super) facts: Vec<(&'static str, i64)>,
    /// What each review step finds.
    pub(super) steps: Vec<StepFinding>,
}

/// What a review step finds: its outputs and its reason.
pub(super) struct StepFinding {
    /// The step.
    pub(super) step: &'static str,
    /// Its outputs.
    pub(super) outputs: Vec<(&'static str, i64)>,
    /// Why it passed.
    pub(super) reason: &'static str,
}

fn finding(
    step: &'static str,
    outputs: Vec<(&'static str, i64)>,
    reason: &'static str,
) -> StepFinding {
    StepFinding { step, outputs, reason }
}

/// The application of the demo citizen of `service_id`, on day `today`
/// (days since 1970-01-01).
pub(super) fn application(service_id: &str, today: i64) -> anyhow::Result<Application> {
    // The ID card is valid for about four more years.
    let id_card_expires_on = today + 1_500;
    let bank_account = |holder: &str| json!({"iban": "DE89370400440532013000", "holder": holder});
    Ok(match service_id {
        "social-insurance" => Application {
            form: json!({
                "id_number": "110101199212120033",
                "name": "Chen Jie (demo)",
                "employer": "Harbour Logistics Co.",
                "declared_monthly_income": 800_000,
                "payment_ratio_bp": 1_000,
                "bank_account": bank_account("Chen Jie (demo)"),
            }),
            completeness_fact: "register_form_complete",
            facts: vec![
                ("id_card_expires_on", id_card_expires_on),
                ("declared_monthly_income", 800_000),
                ("payment_ratio_bp", 1_000),
                ("bank_balance", 500_000),
            ],
            steps: vec![finding(
                "background_check",
                vec![],
                "No open arrears or duplicate enrolment found",
            )],
        },
        "social-assistance" => Application {
            form: json!({
                "id_number": "110101198505050022",
                "name": "Zhao Lei (demo)",
                "family": [{"relation": "self"}, {"relation": "mother"}],
                "monthly_income": 80_000,
                "property": 500_000,
                "employed": false,
                "bank_account": bank_account("Zhao Lei (demo)"),
            }),
            completeness_fact: "family_information_complete",
            facts: vec![
                ("id_card_expires_on", id_card_expires_on),
                ("monthly_income_per_person", 40_000),
                ("property", 500_000),
                ("employed", 0),
            ],
            steps: vec![
                finding(
                    "household_survey",
                    vec![],
                    "Visited the household; the certificates are genuine",
                ),
                finding(
                    "income_accounting",
                    vec![("assistance_amount", 60_000)],
                    "Income and property accounted; assistance amount set",
                ),
                finding("democratic_review", vec![], "No objection at the democratic review"),
            ],
        },
        "social-welfare" => Application {
            form: json!({
                "id_number": "110101197803030044",
                "name": "Liu Min (demo)",
                "employment_status": "employed",
                "monthly_income": 100_000,
                "injury": {
                    "time_of_injury": "2026-09-14",
                    "type_of_injury": "fracture of the left forearm",
                    "approving_unit": "County Labour Bureau",
                },
                "bank_account": bank_account("Liu Min (demo)"),
            }),
            completeness_fact: "personal_information_complete",
            facts: vec![
                ("medical_records_valid", 1),
                ("injury_proof_valid", 1),
                ("id_card_expires_on", id_card_expires_on),
                ("monthly_income", 100_000),
            ],
            steps: vec![
                finding(
                    "county_acceptance",
                    vec![],
                    "Accepted: the application and proofs are complete",
                ),
                finding(
                    "medical_consultation",
                    vec![("disability_grade", 8)],
                    "Examined by the consultation team; disability grade concluded",
                ),
            ],
        },
        "minimum-living-guarantee" => Application {
            form: json!({
                "id_number": "110101199001010011",
                "name": "Wang Fang (demo)",
                "address": "12 Riverside Lane, North District",
                "household_members": [
                    {"relation": "self"}, {"relation": "spouse"}, {"relation": "child"}
                ],
                "declared_monthly_income": 90_000,
                "household_property": 10_000,
                "bank_account": bank_account("Wang Fang (demo)"),
            }),
            completeness_fact: "form_complete",
            facts: vec![
                ("id_card_expires_on", id_card_expires_on),
                ("household_members", 3),
                ("household_monthly_income", 90_000),
                ("household_property", 10_000),
            ],
            steps: vec![
                finding(
                    "household_survey",
                    vec![],
                    "Visited the household at the registered address",
                ),
                finding(
                    "income_accounting",
                    vec![("household_monthly_income", 90_000), ("members", 3)],
                    "Household income accounted for its members",
                ),
                finding("democratic_review", vec![], "No objection at the democratic review"),
            ],
        },
        other => bail!("the demo has no application for service {other:?}"),
    })
}
