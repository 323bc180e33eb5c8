//! Checks made before casbin sees a model or a policy: the model's shape,
//! and every policy line, refused with its line number.

use std::str::FromStr;

use anchor_chaincode::Role;
use casbin::Model;

use super::{Action, EFFECT, OBJECTS};

/// Checks that a model has the request, policy, effect and matcher
/// definitions that [`decide_with`] relies on.
pub(super) fn check_model(model: &casbin::DefaultModel) -> Result<(), String> {
    let sections = model.get_model();
    let assertion = |section: &str, header: &str| {
        sections
            .get(section)
            .and_then(|map| map.get(section))
            .ok_or_else(|| format!("it has no [{header}] section with `{section} = …`"))
    };
    let fields = |tokens: &[String], prefix: &str| -> Vec<String> {
        tokens.iter().map(|t| t.strip_prefix(prefix).unwrap_or(t).to_owned()).collect()
    };

    let request = assertion("r", "request_definition")?;
    if request.tokens.len() != 4 {
        return Err(format!(
            "the request definition must have 4 fields (role, organisation, object, action); \
             it has {}: {}",
            request.tokens.len(),
            fields(&request.tokens, "r_").join(", ")
        ));
    }
    let policy = assertion("p", "policy_definition")?;
    if policy.tokens.len() != 5 || policy.tokens.last().is_none_or(|t| t != "p_eft") {
        return Err(format!(
            "the policy definition must have 5 fields (role, organisation, object, action, eft); \
             it has {}: {}",
            policy.tokens.len(),
            fields(&policy.tokens, "p_").join(", ")
        ));
    }
    let effect = assertion("e", "policy_effect")?;
    if effect.value != EFFECT {
        return Err(format!(
            "the policy effect must be `{}`; it is `{}`",
            EFFECT.replace("p_eft", "p.eft"),
            effect.value.replace("p_eft", "p.eft")
        ));
    }
    assertion("m", "matchers")?;
    Ok(())
}

/// Reads and checks policy lines; returns the rules without the leading `p`,
/// in file order.
pub(super) fn parse_policy(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rules: Vec<Vec<String>> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: String| format!("line {number} ({line}): {what}");
        if line.contains('"') {
            return Err(at("quotes are not supported".into()));
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields[0] != "p" {
            return Err(at(format!(
                "unknown rule type {:?}; only `p` lines are supported",
                fields[0]
            )));
        }
        if fields.len() != 6 {
            return Err(at(format!(
                "expected 6 fields (p, role, organisation or *, object, action, allow or deny); \
                 found {}",
                fields.len()
            )));
        }
        if let Some(position) = fields.iter().position(|f| f.is_empty()) {
            return Err(at(format!("field {} is empty", position + 1)));
        }
        Role::from_str(fields[1]).map_err(|e| at(e.to_string()))?;
        if !OBJECTS.contains(&fields[3]) {
            return Err(at(format!(
                "unknown object {:?}; expected one of {}",
                fields[3],
                OBJECTS.join(", ")
            )));
        }
        Action::from_str(fields[4]).map_err(|e| at(e.to_string()))?;
        if !matches!(fields[5], "allow" | "deny") {
            return Err(at(format!(
                "the effect is {:?}; expected allow or deny (comments must be on their own line)",
                fields[5]
            )));
        }
        let rule: Vec<String> = fields[1..].iter().map(|f| (*f).to_owned()).collect();
        if let Some(earlier) = rules.iter().position(|r| *r == rule) {
            return Err(at(format!("repeats line {}", lines[earlier])));
        }
        rules.push(rule);
        lines.push(number);
    }
    if rules.is_empty() {
        return Err("it has no rules, so every request would be denied".into());
    }
    Ok(rules)
}
