//! Consortium changes: every change kind applied with the endorsements its
//! policy names, and every refusal with its code and a message naming what
//! was missing; a refused change never moves the state root.

use super::*;
use crate::tx::{ConsortiumChange, change_to_pb};

const CA: u8 = 1;
const OPS: u8 = 2;
const HEALTH: u8 = 3;
const CIVIL: u8 = 4;
/// A key no organisation holds yet.
const NEW: u8 = 40;
const OFFICER: u8 = 20;
const AUDITOR: u8 = 21;
const PROVIDER_: u8 = 22;
const CONSUMER_: u8 = 23;
const HEALTH_NODE: u8 = 24;
const CIVIL_NODE_: u8 = 25;
const CITIZEN: u8 = 26;
const HEALTH_AUDITOR: u8 = 27;

/// Four organisations (so a strict majority is 3), the operator apart from
/// the certification authority, and two nodes.
fn world() -> Fixture {
    let org = |name: &str, seed| Organisation {
        name: name.into(),
        description: format!("{name} department"),
        public_key: hex::encode(public(&key(seed))),
    };
    let mut genesis = Genesis::new(
        "test-chain",
        vec![org("ca", CA), org("ops", OPS), org("health", HEALTH), org("civil", CIVIL)],
        "ca",
    );
    genesis.operator = "ops".into();
    let ledger = Ledger::from_genesis_record(0, &genesis_record(&genesis)).unwrap();
    let mut f = Fixture { ledger, offset: 1, nonce: 0 };
    for (seed, organisation, role, own) in [
        (OFFICER, "ca", Role::CertificationAuthority, CA),
        (AUDITOR, "ca", Role::Auditor, CA),
        (PROVIDER_, "health", Role::Provider, HEALTH),
        (CONSUMER_, "civil", Role::Consumer, CIVIL),
        (HEALTH_NODE, "health", Role::Node, HEALTH),
        (CIVIL_NODE_, "civil", Role::Node, CIVIL),
        (CITIZEN, "holders", Role::Public, CA),
        (HEALTH_AUDITOR, "health", Role::Auditor, HEALTH),
    ] {
        let endorsers: &[(&str, u8)] =
            if role == Role::Node { &[("ca", CA), (organisation, own)] } else { &[("ca", CA)] };
        let envelope = f.register(seed, organisation, role, endorsers);
        f.expect(envelope, ValidationCode::Valid, "");
    }
    f
}

fn change(
    f: &mut Fixture,
    creator: u8,
    endorsers: &[(&str, u8)],
    change: ConsortiumChange,
) -> Vec<u8> {
    f.sealed(creator, endorsers, pb::tx_payload::Body::ChangeConsortium(change_to_pb(&change)))
}

fn add(name: &str, seed: u8) -> ConsortiumChange {
    ConsortiumChange::AddOrganisation {
        name: name.into(),
        description: "Tax office".into(),
        public_key: public(&key(seed)),
    }
}

fn rotate(name: &str, seed: u8) -> ConsortiumChange {
    ConsortiumChange::RotateOrganisationKey {
        name: name.into(),
        new_public_key: public(&key(seed)),
    }
}

fn remove(name: &str) -> ConsortiumChange {
    ConsortiumChange::RemoveOrganisation { name: name.into() }
}

fn quorum(k: u32) -> ConsortiumChange {
    ConsortiumChange::SetQuorum { k }
}

fn rule(tx_type: &str, rule_json: &str) -> ConsortiumChange {
    ConsortiumChange::SetAuthorityRule { tx_type: tx_type.into(), rule_json: rule_json.into() }
}

const MAJORITY: [(&str, u8); 3] = [("ca", CA), ("ops", OPS), ("health", HEALTH)];

#[test]
fn adding_an_organisation_needs_a_majority_and_the_new_key() {
    let mut f = world();
    let e = change(&mut f, AUDITOR, &[("ca", CA), ("ops", OPS), ("tax", NEW)], add("tax", NEW));
    f.expect(
        e,
        ValidationCode::EndorsementPolicyFailure,
        "adding organisation \"tax\" needs endorsements of 3 of the 4 member organisations by their current keys, has 2: ca, ops",
    );
    let e = change(&mut f, AUDITOR, &MAJORITY, add("tax", NEW));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "new key");
    let e = change(
        &mut f,
        AUDITOR,
        &[("ca", CA), ("ops", OPS), ("civil", CIVIL), ("tax", NEW)],
        add("tax", NEW),
    );
    f.expect(e, ValidationCode::Valid, "");
    let consortium = f.ledger.consortium();
    assert_eq!(consortium.organisation_key("tax"), Some(&public(&key(NEW))));
    assert_eq!(consortium.organisations["tax"].description, "Tax office");
    assert_eq!(consortium.change_endorsements(), 3, "a strict majority of 5");
    let history = f.ledger.consortium_history();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].endorsed_by, ["ca", "civil", "ops"]);
    assert_eq!(history[0].creator.to_string(), address(AUDITOR));
    assert_eq!(history[0].change, add("tax", NEW));
    // The new member's key now endorses, and a node may join it.
    let e = f.register(50, "tax", Role::Node, &[("ca", CA), ("tax", NEW)]);
    f.expect(e, ValidationCode::Valid, "");
}

#[test]
fn adding_refuses_bad_names_and_keys() {
    let mut f = world();
    let endorsers =
        |name: &'static str, seed| [("ca", CA), ("ops", OPS), ("health", HEALTH), (name, seed)];
    for (name, seed, code, message) in [
        ("health", NEW, ValidationCode::InvalidArgument, "already a member"),
        ("holders", NEW, ValidationCode::InvalidArgument, "holders' organisation"),
        ("bad name", NEW, ValidationCode::InvalidArgument, "must be 1 to 64 characters"),
        (
            "tax",
            CIVIL,
            ValidationCode::InvalidArgument,
            "already the key of organisation \"civil\"",
        ),
    ] {
        let e = change(&mut f, AUDITOR, &endorsers(name, seed), add(name, seed));
        f.expect(e, code, message);
    }
    let long = ConsortiumChange::AddOrganisation {
        name: "tax".into(),
        description: "x".repeat(300),
        public_key: public(&key(NEW)),
    };
    let e = change(&mut f, AUDITOR, &endorsers("tax", NEW), long);
    f.expect(e, ValidationCode::InvalidArgument, "description must be at most 256 bytes");
}

#[test]
fn who_may_create_and_which_endorsements_count() {
    let mut f = world();
    // An unregistered key, a citizen, and any member role but public.
    let e = change(&mut f, 99, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::UnknownIdentity, "is not a registered identity");
    let e = change(&mut f, CITIZEN, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::NotAuthorised, "change_consortium may be created only by");
    // An identity's key does not speak for its organisation, nor does a
    // name that is not a member.
    let e =
        change(&mut f, PROVIDER_, &[("ca", CA), ("ops", OPS), ("health", PROVIDER_)], quorum(2));
    f.expect(
        e,
        ValidationCode::EndorsementPolicyFailure,
        "has 2: ca, ops; ignored: health (not its current key)",
    );
    let e = change(&mut f, PROVIDER_, &[("ca", CA), ("ops", OPS), ("tax", NEW)], quorum(2));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "ignored: tax (not a member)");
    // Claiming another organisation's name with one's own key counts for nobody.
    let e = change(&mut f, PROVIDER_, &[("ca", CA), ("ops", OPS), ("civil", HEALTH)], quorum(2));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "has 2");
    let e = change(&mut f, PROVIDER_, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::Valid, "");
}

#[test]
fn rotating_a_key_needs_the_new_key_and_then_only_it_counts() {
    let mut f = world();
    let e = change(&mut f, AUDITOR, &MAJORITY, rotate("health", NEW));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "needs an endorsement by the new key");
    // The new key's endorsement is a proof of possession, not a vote.
    let e = change(
        &mut f,
        AUDITOR,
        &[("ca", CA), ("ops", OPS), ("health", NEW)],
        rotate("health", NEW),
    );
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "has 2: ca, ops");
    let e = change(&mut f, AUDITOR, &MAJORITY, rotate("health", HEALTH));
    f.expect(e, ValidationCode::InvalidArgument, "is its current key");
    let e = change(
        &mut f,
        AUDITOR,
        &[("ca", CA), ("ops", OPS), ("health", HEALTH), ("health", CIVIL)],
        rotate("health", CIVIL),
    );
    f.expect(e, ValidationCode::InvalidArgument, "already the key of organisation \"civil\"");
    let e = change(&mut f, AUDITOR, &MAJORITY, rotate("tax", NEW));
    f.expect(e, ValidationCode::UnknownOrganisation, "\"tax\" is not a member");
    let e = change(
        &mut f,
        AUDITOR,
        &[("ca", CA), ("ops", OPS), ("health", HEALTH), ("health", NEW)],
        rotate("health", NEW),
    );
    f.expect(e, ValidationCode::Valid, "");
    assert_eq!(f.ledger.consortium().organisation_key("health"), Some(&public(&key(NEW))));
    // The old key no longer speaks for the organisation; the new one does.
    let e = change(&mut f, AUDITOR, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "ignored: health (not its current key)");
    let e = change(&mut f, AUDITOR, &[("ca", CA), ("ops", OPS), ("health", NEW)], quorum(2));
    f.expect(e, ValidationCode::Valid, "");
    let e = f.register(51, "health", Role::Node, &[("ca", CA), ("health", HEALTH)]);
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "its own organisation \"health\"");
    let e = f.register(51, "health", Role::Node, &[("ca", CA), ("health", NEW)]);
    f.expect(e, ValidationCode::Valid, "");
}

#[test]
fn removing_an_organisation_revokes_its_identities() {
    let mut f = world();
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("ca"));
    f.expect(
        e,
        ValidationCode::NotAuthorised,
        "is the certification authority and cannot be removed",
    );
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("ops"));
    f.expect(e, ValidationCode::NotAuthorised, "is the hub operator and cannot be removed");
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("tax"));
    f.expect(e, ValidationCode::UnknownOrganisation, "not a member");
    let e = change(&mut f, AUDITOR, &[("ca", CA), ("civil", CIVIL)], remove("civil"));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "needs endorsements of 3 of the 4");
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("civil"));
    f.expect(e, ValidationCode::Valid, "");
    assert!(!f.ledger.consortium().is_member("civil"));
    assert_eq!(f.ledger.consortium().change_endorsements(), 2, "a strict majority of 3");
    for seed in [CONSUMER_, CIVIL_NODE_] {
        let identity = f.ledger.identity(&address(seed).parse().unwrap()).unwrap();
        let revocation = identity.revoked.as_ref().expect("revoked with its organisation");
        assert!(revocation.reason.contains("\"civil\" was removed"), "{revocation:?}");
    }
    assert_eq!(f.ledger.active_nodes().count(), 1);
    // Its members create nothing, its key endorses nothing, nobody joins it.
    let e = change(&mut f, CONSUMER_, &MAJORITY, quorum(1));
    f.expect(e, ValidationCode::RevokedIdentity, "\"civil\" was removed");
    let e = change(&mut f, AUDITOR, &[("ca", CA), ("civil", CIVIL)], quorum(1));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "ignored: civil (not a member)");
    let e = f.register(52, "civil", Role::Consumer, &[("ca", CA)]);
    f.expect(e, ValidationCode::UnknownOrganisation, "neither a member");
}

#[test]
fn removing_is_refused_when_quorum_policy_or_a_rule_would_break() {
    let mut f = world();
    let e = change(&mut f, AUDITOR, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::Valid, "");
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("civil"));
    f.expect(
        e,
        ValidationCode::InvalidArgument,
        "would leave 1 node(s), fewer than the quorum of 2",
    );
    let e = change(&mut f, AUDITOR, &MAJORITY, quorum(1));
    f.expect(e, ValidationCode::Valid, "");
    let e =
        change(&mut f, AUDITOR, &MAJORITY, ConsortiumChange::SetChangePolicy { organisations: 4 });
    f.expect(e, ValidationCode::Valid, "");
    let e = change(
        &mut f,
        AUDITOR,
        &[("ca", CA), ("ops", OPS), ("health", HEALTH), ("civil", CIVIL)],
        remove("civil"),
    );
    f.expect(
        e,
        ValidationCode::InvalidArgument,
        "the change policy needs 4 organisations, more than the 3 left",
    );
    let e =
        change(&mut f, AUDITOR, &MAJORITY, ConsortiumChange::SetChangePolicy { organisations: 0 });
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "needs endorsements of 4 of the 4");
    let all = [("ca", CA), ("ops", OPS), ("health", HEALTH), ("civil", CIVIL)];
    let e = change(&mut f, AUDITOR, &all, ConsortiumChange::SetChangePolicy { organisations: 0 });
    f.expect(e, ValidationCode::Valid, "");
    let named = r#"{"create":[{"organisation":"certification_authority","role":"certification_authority"}],"endorse":[{"organisation":{"named":"civil"},"role":"auditor"}]}"#;
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("revoke_identity", named));
    f.expect(e, ValidationCode::Valid, "");
    let e = change(&mut f, AUDITOR, &MAJORITY, remove("civil"));
    f.expect(
        e,
        ValidationCode::InvalidArgument,
        "the authority rule of revoke_identity names organisation \"civil\"",
    );
}

#[test]
fn setting_the_quorum_stays_within_the_nodes() {
    let mut f = world();
    for (k, message) in [
        (0, "quorum 0 must be at least 1"),
        (3, "at most the 2 registered, unrevoked node identities"),
    ] {
        let e = change(&mut f, AUDITOR, &MAJORITY, quorum(k));
        f.expect(e, ValidationCode::InvalidArgument, message);
    }
    assert_eq!(f.ledger.consortium().quorum(), 1);
    let e = change(&mut f, AUDITOR, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::Valid, "");
    assert_eq!(f.ledger.consortium().quorum(), 2);
}

#[test]
fn the_change_policy_never_goes_below_a_majority() {
    let mut f = world();
    for (organisations, message) in
        [(2, "between a strict majority (3)"), (5, "the number of organisations (4)")]
    {
        let e =
            change(&mut f, AUDITOR, &MAJORITY, ConsortiumChange::SetChangePolicy { organisations });
        f.expect(e, ValidationCode::InvalidArgument, message);
    }
    let e =
        change(&mut f, AUDITOR, &MAJORITY, ConsortiumChange::SetChangePolicy { organisations: 4 });
    f.expect(e, ValidationCode::Valid, "");
    assert_eq!(f.ledger.consortium().change_endorsements(), 4);
    let e = change(&mut f, AUDITOR, &MAJORITY, quorum(2));
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "needs endorsements of 4 of the 4 member organisations by their current keys, has 3: ca, health, ops");
}

#[test]
fn setting_an_authority_rule_stays_within_the_ceiling() {
    let mut f = world();
    let widened =
        r#"{"create":[{"organisation":"any_department","role":"certification_authority"}]}"#;
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("revoke_identity", widened));
    f.expect(e, ValidationCode::InvalidArgument, "exceeds what the type allows");
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("mint_money", "{}"));
    f.expect(e, ValidationCode::InvalidArgument, "unknown transaction type \"mint_money\"");
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("revoke_identity", "{not json"));
    f.expect(e, ValidationCode::InvalidArgument, "the rule of revoke_identity is not valid");
    let stranger = r#"{"create":[{"organisation":"certification_authority","role":"certification_authority"}],"endorse":[{"organisation":{"named":"tax"},"role":"auditor"}]}"#;
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("revoke_identity", stranger));
    f.expect(e, ValidationCode::UnknownOrganisation, "names organisation \"tax\"");
    // Narrowing: a revocation now also needs health's auditor.
    let narrowed = r#"{"create":[{"organisation":"certification_authority","role":"certification_authority"}],"endorse":[{"organisation":{"named":"health"},"role":"auditor"}]}"#;
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("revoke_identity", narrowed));
    f.expect(e, ValidationCode::Valid, "");
    let revoke = |address: String| {
        pb::tx_payload::Body::RevokeIdentity(pb::RevokeIdentity { address, reason: "left".into() })
    };
    let e = f.sealed(OFFICER, &[], revoke(address(CONSUMER_)));
    f.expect(
        e,
        ValidationCode::EndorsementPolicyFailure,
        "requires endorsement by role auditor of organisation \"health\"",
    );
    let e = f.sealed(OFFICER, &[("health", HEALTH_AUDITOR)], revoke(address(CONSUMER_)));
    f.expect(e, ValidationCode::Valid, "");
    // Who may create consortium changes may be narrowed too.
    let only_auditors = r#"{"create":[{"organisation":"any_department","role":"auditor"}]}"#;
    let e = change(&mut f, PROVIDER_, &MAJORITY, rule("change_consortium", only_auditors));
    f.expect(e, ValidationCode::Valid, "");
    let e = change(&mut f, PROVIDER_, &MAJORITY, quorum(2));
    f.expect(
        e,
        ValidationCode::NotAuthorised,
        "change_consortium may be created only by role auditor",
    );
}

#[test]
fn a_node_needs_its_own_organisations_endorsement() {
    let mut f = world();
    let e = f.register(60, "health", Role::Node, &[("ca", CA)]);
    f.expect(
        e,
        ValidationCode::EndorsementPolicyFailure,
        "requires endorsement by its own organisation \"health\": its current organisation key",
    );
    let e = f.register(60, "health", Role::Node, &[("ca", CA), ("civil", CIVIL)]);
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "its own organisation \"health\"");
    let e = f.register(60, "health", Role::Node, &[("ca", CA), ("health", HEALTH_AUDITOR)]);
    f.expect(e, ValidationCode::EndorsementPolicyFailure, "its own organisation \"health\"");
    let e = f.register(60, "health", Role::Node, &[("health", HEALTH)]);
    f.expect(
        e,
        ValidationCode::EndorsementPolicyFailure,
        "requires endorsement by role certification_authority",
    );
    // The rule may let a member of the organisation consent for it.
    let by_auditor = r#"{"endorse":[{"organisation":"certification_authority","role":"certification_authority"},{"organisation":"owner","role":"auditor"}]}"#;
    let e = change(&mut f, AUDITOR, &MAJORITY, rule("register_identity", by_auditor));
    f.expect(e, ValidationCode::Valid, "");
    let e = f.register(60, "health", Role::Node, &[("ca", CA), ("health", HEALTH_AUDITOR)]);
    f.expect(e, ValidationCode::Valid, "");
}

#[test]
fn replicas_agree_and_the_history_is_in_the_state_root() {
    let mut a = world();
    let mut b = world();
    assert_eq!(a.ledger.state_root(), b.ledger.state_root());
    let e = change(&mut a, AUDITOR, &MAJORITY, quorum(2));
    let record = batch_record(vec![e]);
    let block_a = a.ledger.apply_record(a.offset, &record).clone();
    let block_b = b.ledger.apply_record(b.offset, &record).clone();
    assert_eq!(block_a.hash, block_b.hash);
    assert_eq!(block_a.receipts[0].code, ValidationCode::Valid);
    assert_eq!(b.ledger.consortium().quorum(), 2);
    // The same quorum reached by another change is another state.
    let mut c = world();
    let e = change(&mut c, PROVIDER_, &MAJORITY, quorum(2));
    let block_c = c.ledger.apply_record(c.offset, &batch_record(vec![e])).clone();
    assert_eq!(block_c.receipts[0].code, ValidationCode::Valid);
    assert_ne!(block_c.header.state_root, block_a.header.state_root);
}
