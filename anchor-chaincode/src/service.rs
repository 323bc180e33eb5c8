//! Social-security services as data: the versioned definition a department
//! puts on the ledger, and its validation.
//!
//! A definition is JSON (see `services/*.json` in the repository for the four
//! services of the seed paper). It names the input form (a JSON Schema, which
//! the applicant's client validates before sealing; the ledger keeps it so
//! every reviewer and auditor validates against the same schema), the
//! documents required, the facts the automatic checks record, the automatic
//! rules over those facts, the review steps with the organisation and
//! department-defined reviewer role that performs each and the steps each
//! waits for (steps whose prerequisites are met may run in parallel), the
//! decision and its amount formula, the appeal, the payment and the
//! certificate an approval produces. Rules and formulas are expressions of
//! [`expr`]: integers only, evaluated identically on every node.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub mod expr;

use expr::{Expr, RefKind, Type};

/// Largest accepted definition, in bytes.
pub const MAX_DEFINITION_BYTES: usize = 256 * 1024;
/// Most documents, facts, rules, steps or constants of one kind.
pub const MAX_ITEMS: usize = 64;
/// The ledger variables a rule may read.
pub const VARS: [&str; 2] = ["application_date", "decision_date"];

/// A reviewer principal: an organisation and one of its reviewer roles.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The organisation.
    pub organisation: String,
    /// The department-defined reviewer role.
    pub role: String,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reviewer role {:?} of organisation {:?}", self.role, self.organisation)
    }
}

/// A document the application carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentSpec {
    /// Its name (e.g. `id_card`).
    pub name: String,
    /// What it is, for people.
    #[serde(default)]
    pub title: String,
    /// Whether an application without it is refused.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// What kind of integer a fact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// Minor units of the service's currency.
    Money,
    /// A count.
    Count,
    /// Days since 1970-01-01.
    Date,
    /// Basis points (1/10000).
    BasisPoints,
    /// 1 for yes, 0 for no.
    Flag,
}

/// A fact the automatic checks record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactSpec {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: FactKind,
    /// Where it comes from, for people and auditors (a form field, a
    /// document, or another department's shared asset).
    #[serde(default)]
    pub source: String,
}

/// What a failed rule does to the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    /// The case is rejected.
    Reject,
    /// The case is returned to the applicant for supplement.
    Return,
}

/// An automatic eligibility rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Its name.
    pub name: String,
    /// The condition that must hold (a boolean expression).
    pub when: Json,
    /// The reason recorded when it does not.
    pub reason: String,
    /// What a failure does.
    #[serde(default = "reject")]
    pub on_fail: OnFail,
}

fn reject() -> OnFail {
    OnFail::Reject
}

/// A review step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Its name.
    pub name: String,
    /// What it is, for people.
    #[serde(default)]
    pub title: String,
    /// The organisation that performs it.
    pub organisation: String,
    /// The reviewer role that performs it.
    pub role: String,
    /// Steps that must have passed first; steps with the same prerequisites
    /// may run in parallel.
    #[serde(default)]
    pub after: Vec<String>,
    /// Days from the checks (or the last prerequisite) to its deadline.
    #[serde(default)]
    pub deadline_days: u32,
    /// The integers the step records (e.g. an assessed amount).
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl StepSpec {
    /// Who performs the step.
    pub fn actor(&self) -> Actor {
        Actor { organisation: self.organisation.clone(), role: self.role.clone() }
    }
}

/// Whether payments go to the applicant or come from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Benefits paid to the applicant (ISO 20022 `pain.001`).
    Credit,
    /// Premiums collected from the applicant (ISO 20022 `pain.008`).
    Debit,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSpec {
    /// The organisation that decides.
    pub organisation: String,
    /// The reviewer role that decides.
    pub role: String,
    /// The monthly amount of an approval, in minor units (an integer
    /// expression; a negative result is refused).
    pub amount: Json,
}

/// Payments of an approved case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSpec {
    /// The organisation that records executed payments.
    pub organisation: String,
    /// Its reviewer role.
    pub role: String,
    /// Credit transfers or direct debits.
    pub direction: Direction,
    /// How many monthly payments an approval entitles to (0: until closed).
    #[serde(default)]
    pub months: u32,
}

/// What an approval produces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSpec {
    /// The certificate type issued through the certificate channels.
    pub certificate_type: String,
    /// What the certificate says, for people.
    #[serde(default)]
    pub title: String,
}

/// A service definition, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinition {
    /// The service's id.
    pub service_id: String,
    /// Its version: 1, then each new version one more than the last.
    pub version: u64,
    /// Its title.
    pub title: String,
    /// The organisation that owns it.
    pub owner: String,
    /// ISO 4217 code of its amounts.
    pub currency: String,
    /// The input form, a JSON Schema.
    pub form_schema: Json,
    /// Documents the application carries (the form itself is `form`).
    pub documents: Vec<DocumentSpec>,
    /// Facts the automatic checks record.
    #[serde(default)]
    pub facts: Vec<FactSpec>,
    /// Who records the automatic checks.
    pub checks: Actor,
    /// Constants the rules and formulas read.
    #[serde(default)]
    pub constants: BTreeMap<String, i64>,
    /// Automatic eligibility rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Review steps.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// The decision.
    pub decision: DecisionSpec,
    /// Who decides an appeal (never the reviewer who made the first decision).
    pub appeal: Actor,
    /// Payments of an approval.
    pub payment: Option<PaymentSpec>,
    /// What an approval produces.
    pub outcome: Option<OutcomeSpec>,
}

/// A definition checked and with its expressions parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The definition as written.
    pub definition: ServiceDefinition,
    /// The JSON bytes exactly as put on the ledger.
    pub definition_bytes: Vec<u8>,
    /// Parsed rules, in order.
    pub rules: Vec<Expr>,
    /// Parsed amount formula.
    pub amount: Expr,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `name` may be a department-defined reviewer role.
pub fn valid_reviewer_role(name: &str) -> bool {
    valid_name(name)
}

fn unique<'a>(
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<BTreeSet<&'a str>, String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !valid_name(name) {
            return Err(format!(
                "{what} name {name:?} must be 1 to 64 characters of a-z, 0-9, _ and -"
            ));
        }
        if !seen.insert(name) {
            return Err(format!("{what} {name:?} is defined twice"));
        }
    }
    if seen.len() > MAX_ITEMS {
        return Err(format!("more than {MAX_ITEMS} of {what}"));
    }
    Ok(seen)
}

impl Service {
    /// Parses and checks a definition; `is_department` says whether an
    /// organisation is a member of the consortium (not the holders').
    pub fn parse(bytes: &[u8], is_department: &dyn Fn(&str) -> bool) -> Result<Service, String> {
        if bytes.len() > MAX_DEFINITION_BYTES {
            return Err(format!(
                "definition is {} bytes, more than {MAX_DEFINITION_BYTES}",
                bytes.len()
            ));
        }
        let definition: ServiceDefinition =
            serde_json::from_slice(bytes).map_err(|e| format!("definition is not valid: {e}"))?;
        let d = &definition;
        if !valid_name(&d.service_id) {
            return Err(format!(
                "service id {:?} must be 1 to 64 characters of a-z, 0-9, _ and -",
                d.service_id
            ));
        }
        if d.version == 0 {
            return Err("version must be at least 1".into());
        }
        if d.title.is_empty() || d.title.len() > 200 || d.title.chars().any(char::is_control) {
            return Err("title must be 1 to 200 characters without control characters".into());
        }
        if !crate::billing::valid_currency(&d.currency) {
            return Err(format!("currency {:?} is not an ISO 4217 code", d.currency));
        }
        if !d.form_schema.is_object() {
            return Err("form_schema must be a JSON Schema object".into());
        }
        let mut actors: Vec<(&str, Actor)> = vec![
            ("checks", d.checks.clone()),
            (
                "decision",
                Actor {
                    organisation: d.decision.organisation.clone(),
                    role: d.decision.role.clone(),
                },
            ),
            ("appeal", d.appeal.clone()),
        ];
        if let Some(payment) = &d.payment {
            actors.push((
                "payment",
                Actor { organisation: payment.organisation.clone(), role: payment.role.clone() },
            ));
        }
        for step in &d.steps {
            actors.push(("step", step.actor()));
        }
        for (what, actor) in &actors {
            if !is_department(&actor.organisation) {
                return Err(format!(
                    "{what}: organisation {:?} is not a member of the consortium",
                    actor.organisation
                ));
            }
            if !valid_reviewer_role(&actor.role) {
                return Err(format!(
                    "{what}: reviewer role {:?} must be 1 to 64 characters of a-z, 0-9, _ and -",
                    actor.role
                ));
            }
        }
        if !is_department(&d.owner) {
            return Err(format!("owner {:?} is not a member of the consortium", d.owner));
        }
        let documents = unique("document", d.documents.iter().map(|doc| doc.name.as_str()))?;
        if !documents.contains("form") {
            return Err("documents must include \"form\", the sealed application form".into());
        }
        let facts = unique("fact", d.facts.iter().map(|f| f.name.as_str()))?;
        let _ = unique("rule", d.rules.iter().map(|r| r.name.as_str()))?;
        let _ = unique("constant", d.constants.keys().map(String::as_str))?;
        let steps = unique("step", d.steps.iter().map(|s| s.name.as_str()))?;
        let mut outputs = BTreeSet::new();
        for (idx, step) in d.steps.iter().enumerate() {
            let _ = unique("output", step.outputs.iter().map(String::as_str))?;
            for output in &step.outputs {
                let _ = outputs.insert(format!("{}.{output}", step.name));
            }
            for before in &step.after {
                // Prerequisites come earlier in the list, so the order has no cycle.
                if !d.steps[..idx].iter().any(|s| &s.name == before) {
                    return Err(format!(
                        "step {:?} waits for {before:?}, which is not a step listed before it",
                        step.name
                    ));
                }
            }
            if step.deadline_days > 3650 {
                return Err(format!("step {:?}: deadline over ten years", step.name));
            }
        }
        let _ = steps;
        let lookup = |kind: RefKind, name: &str| match kind {
            RefKind::Fact => facts.contains(name),
            RefKind::Output => outputs.contains(name),
            RefKind::Const => d.constants.contains_key(name),
            RefKind::Var => VARS.contains(&name),
        };
        let mut rules = Vec::with_capacity(d.rules.len());
        for rule in &d.rules {
            if rule.reason.is_empty() || rule.reason.len() > 500 {
                return Err(format!("rule {:?}: reason must be 1 to 500 characters", rule.name));
            }
            let parsed =
                expr::parse(&rule.when).map_err(|e| format!("rule {:?}: {e}", rule.name))?;
            let mut refs = Vec::new();
            parsed.refs(&mut refs);
            if refs.iter().any(|(kind, _)| *kind == RefKind::Output) {
                return Err(format!(
                    "rule {:?}: automatic rules run before the steps and cannot read step outputs",
                    rule.name
                ));
            }
            match parsed.type_check(&lookup) {
                Ok(Type::Bool) => {}
                Ok(Type::Int) => {
                    return Err(format!(
                        "rule {:?}: the condition is an integer, not a boolean",
                        rule.name
                    ));
                }
                Err(e) => return Err(format!("rule {:?}: {e}", rule.name)),
            }
            rules.push(parsed);
        }
        let amount =
            expr::parse(&d.decision.amount).map_err(|e| format!("decision amount: {e}"))?;
        match amount.type_check(&lookup) {
            Ok(Type::Int) => {}
            Ok(Type::Bool) => return Err("decision amount is a boolean, not an integer".into()),
            Err(e) => return Err(format!("decision amount: {e}")),
        }
        if let Some(outcome) = &d.outcome
            && !valid_name(&outcome.certificate_type)
        {
            return Err(format!(
                "outcome certificate type {:?} must be 1 to 64 characters of a-z, 0-9, _ and -",
                outcome.certificate_type
            ));
        }
        Ok(Service {
            definition: definition.clone(),
            definition_bytes: bytes.to_vec(),
            rules,
            amount,
        })
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepSpec> {
        self.definition.steps.iter().find(|s| s.name == name)
    }

    /// The deciding principal.
    pub fn decider(&self) -> Actor {
        Actor {
            organisation: self.definition.decision.organisation.clone(),
            role: self.definition.decision.role.clone(),
        }
    }
}
