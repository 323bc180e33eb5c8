//! The client side of a social-security case: what an applicant's,
//! reviewer's or auditor's program computes from the data the ledger only
//! holds hashes of.
//!
//! - [`validate_form`]: the application form against its service's JSON Schema.
//! - [`form_facts`]: the facts a definition takes from the form (source
//!   `form_schema`: 1 when the form is complete, else 0; source `form:FIELD`:
//!   an integer, a boolean as 1/0, an array's length, or a `YYYY-MM-DD` date
//!   as days since 1970-01-01).
//! - [`person_hash`]: HMAC-SHA-256 of the identity document number under the
//!   consortium's person key, so that the ledger can refuse a second open
//!   case without ever holding the number.
//! - [`audit`]: every automatic verdict and the approved amount recomputed
//!   offline from the recorded facts (and, given the form, the facts from
//!   the form), with each difference named.

use std::collections::BTreeMap;
use std::path::Path;

use anchor_chaincode::ledger::CaseRecord;
use anchor_chaincode::service::expr::Inputs;
use anchor_chaincode::service::{FactKind, Service, ServiceDefinition};
use serde_json::Value as Json;

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// The problems of a form against a JSON Schema (empty when it is valid),
/// each naming where in the form it is. Values are not quoted, so the
/// problems can be shown without showing personal data.
pub fn validate_form(schema: &Json, form: &Json) -> Result<Vec<String>, String> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("the form schema is not valid: {e}"))?;
    Ok(validator
        .iter_errors(form)
        .map(|error| {
            let path = error.instance_path().to_string();
            let place =
                if path.is_empty() { "the form".to_owned() } else { format!("field {path}") };
            format!("{place}: {}", error.kind_description())
        })
        .collect())
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for jsonschema::ValidationError<'_> {
    /// The error's message without the offending value.
    fn kind_description(&self) -> String {
        let message = self.to_string();
        // Messages read `<value> is not of type "integer"` or
        // `"name" is a required property`; keep what follows the value.
        match message.find(" is ") {
            Some(idx) if !message.starts_with('"') || message.contains("required") => {
                if message.contains("required property") {
                    message
                } else {
                    format!("value{}", &message[idx..])
                }
            }
            _ => "does not match the schema".to_owned(),
        }
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let bad = || format!("{text:?} is not a date YYYY-MM-DD");
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let (year, month, day): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1900..=9999).contains(&year) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Ok(era * 146_097 + day_of_era - 719_468)
}

/// A fact's value from text: an integer, or a date for date facts.
pub fn parse_fact(kind: FactKind, text: &str) -> Result<i64, String> {
    if kind == FactKind::Date && text.contains('-') && text.len() == 10 {
        return parse_date(text);
    }
    match text {
        "true" | "yes" if kind == FactKind::Flag => Ok(1),
        "false" | "no" if kind == FactKind::Flag => Ok(0),
        _ => text.parse().map_err(|_| format!("{text:?} is not an integer")),
    }
}

/// The facts a definition takes from the form, by name.
pub fn form_facts(
    definition: &ServiceDefinition,
    form: &Json,
) -> Result<BTreeMap<String, i64>, String> {
    let mut facts = BTreeMap::new();
    for fact in &definition.facts {
        let value = if fact.source == "form_schema" {
            i64::from(validate_form(&definition.form_schema, form)?.is_empty())
        } else if let Some(field) = fact.source.strip_prefix("form:") {
            let value = form.get(field).ok_or_else(|| {
                format!(
                    "fact {:?} comes from form field {field:?}, which the form lacks",
                    fact.name
                )
            })?;
            match value {
                Json::Number(n) => n.as_i64().ok_or_else(|| {
                    format!("form field {field:?} is not a whole number (use minor units)")
                })?,
                Json::Bool(b) => i64::from(*b),
                Json::Array(items) => items.len() as i64,
                Json::String(text) => {
                    parse_fact(fact.kind, text).map_err(|e| format!("form field {field:?}: {e}"))?
                }
                _ => {
                    return Err(format!(
                        "form field {field:?} is not a number, flag, list or date"
                    ));
                }
            }
        } else {
            continue;
        };
        let _ = facts.insert(fact.name.clone(), value);
    }
    Ok(facts)
}

/// HMAC-SHA-256 of an identity document number (trimmed, upper-cased) under
/// the consortium's person key.
pub fn person_hash(key: &[u8; 32], id_number: &str) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, id_number.trim().to_uppercase().as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(tag.as_ref());
    hash
}

/// Makes a new person-hash key file at `path`: 32 random bytes as 64 hex
/// digits, mode 0600, never overwriting a file that exists.
pub fn create_person_key(path: &Path) -> Result<[u8; 32], String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key = access_control::keys::random_bytes::<32>()
        .map_err(|e| format!("cannot draw a person key: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

/// Reads a person-hash key file (64 hex digits).
pub fn read_person_key(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the person key {}: {e}", path.display()))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| format!("{} is not a person key (64 hex digits)", path.display()))?;
    Ok(key)
}

/// One difference an audit found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// What differs: `rule NAME`, `fact NAME` or `amount`.
    pub subject: String,
    /// What the record says.
    pub recorded: String,
    /// What recomputation gives.
    pub recomputed: String,
}

/// Recomputes a case's automatic verdicts from its recorded facts (and its
/// approved amount from the facts and step outputs), and compares the
/// recorded facts with `form_facts` when the form was opened.
pub fn audit(
    service: &Service,
    case: &CaseRecord,
    form_facts: Option<&BTreeMap<String, i64>>,
) -> Vec<Finding> {
    let definition = &service.definition;
    let mut findings = Vec::new();
    let facts: BTreeMap<String, i64> = case.facts.iter().cloned().collect();
    if let Some(from_form) = form_facts {
        for (name, value) in from_form {
            let recorded = facts.get(name);
            if recorded != Some(value) {
                findings.push(Finding {
                    subject: format!("fact {name}"),
                    recorded: recorded.map_or("missing".into(), ToString::to_string),
                    recomputed: value.to_string(),
                });
            }
        }
    }
    if case.verdicts.is_empty() {
        return findings;
    }
    let vars =
        BTreeMap::from([("application_date".to_owned(), (case.applied_at_ms / DAY_MS) as i64)]);
    let inputs = Inputs {
        facts: Some(&facts),
        constants: Some(&definition.constants),
        vars: Some(&vars),
        outputs: None,
    };
    for (idx, (spec, rule)) in definition.rules.iter().zip(&service.rules).enumerate() {
        let recomputed = match rule.eval_bool(&inputs) {
            Ok(passed) => passed.to_string(),
            Err(e) => format!("error: {e}"),
        };
        let recorded = case
            .verdicts
            .get(idx)
            .filter(|v| v.rule == spec.name)
            .map_or("missing".into(), |v| v.passed.to_string());
        if recorded != recomputed {
            findings.push(Finding { subject: format!("rule {}", spec.name), recorded, recomputed });
        }
    }
    if let Some(decision) = case.decisions.iter().rev().find(|d| d.amount.is_some()) {
        let round_steps = case.steps.iter().filter(|s| s.round < u32::MAX);
        let outputs: BTreeMap<String, i64> = round_steps
            .filter(|s| s.by.at_ms <= decision.by.at_ms)
            .flat_map(|s| s.outputs.iter().map(|(k, v)| (format!("{}.{k}", s.step), *v)))
            .collect();
        let vars = BTreeMap::from([
            ("application_date".to_owned(), (case.applied_at_ms / DAY_MS) as i64),
            ("decision_date".to_owned(), (decision.by.at_ms / DAY_MS) as i64),
        ]);
        let inputs = Inputs {
            facts: Some(&facts),
            outputs: Some(&outputs),
            constants: Some(&definition.constants),
            vars: Some(&vars),
        };
        let recomputed = match service.amount.eval_int(&inputs) {
            Ok(amount) => amount.to_string(),
            Err(e) => format!("error: {e}"),
        };
        let recorded = decision.amount.map_or("none".into(), |a| a.to_string());
        if recorded != recomputed {
            findings.push(Finding { subject: "amount".into(), recorded, recomputed });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_since_1970() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2026-12-04"), Ok(20_791));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
    }

    #[test]
    fn forms_are_checked_without_quoting_values() {
        let schema: Json = serde_json::json!({
            "type": "object",
            "required": ["id_number", "income"],
            "properties": {"income": {"type": "integer"}}
        });
        let form = serde_json::json!({"income": "secret-text"});
        let problems = validate_form(&schema, &form).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("id_number")), "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("secret-text")), "{problems:?}");
        assert!(
            validate_form(&schema, &serde_json::json!({"id_number": "X", "income": 1}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_person_hash_is_keyed_and_normalised() {
        let key = [7u8; 32];
        assert_eq!(person_hash(&key, " bag123 "), person_hash(&key, "BAG123"));
        assert_ne!(person_hash(&key, "BAG123"), person_hash(&[8u8; 32], "BAG123"));
    }
}
