//! The demo on an embedded node: it leaves one approved case per service,
//! walked by the right reviewers, with documents that open from the store,
//! and a second start (the same data directory) adds nothing.

use std::collections::BTreeSet;

use access_control::keys::KeyPair;
use anchor_chaincode::case::CaseState;
use anchor_chaincode::ledger::CaseRecord;
use asset_registry::decision::SignedDecision;
use ods_frontend::case_docs;
use ods_frontend::store::SealedStore;

use super::*;
use crate::node::NodeConfig;

fn open(data_dir: &Path) -> Node {
    let genesis = prepare(data_dir, 1).unwrap();
    Node::open(&NodeConfig::new(data_dir), Some(&genesis)).unwrap()
}

/// Opens the data directory again once the dropped node's committer has
/// released the log, as a restart of `cairn up --demo` does.
async fn reopen(data_dir: &Path) -> Node {
    let genesis = prepare(data_dir, 1).unwrap();
    for _ in 0..100 {
        match Node::open(&NodeConfig::new(data_dir), Some(&genesis)) {
            Ok(node) => return node,
            Err(e) if e.to_string().contains("in use by another process") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot reopen the demo node: {e:#}"),
        }
    }
    panic!("the dropped node kept its log locked for ten seconds")
}

fn demo_cases(node: &Node) -> Vec<CaseRecord> {
    node.ledger().cases().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_leaves_one_approved_case_per_service_and_runs_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = keys_dir(data_dir.path());
    let node = open(data_dir.path());
    populate(&node, data_dir.path()).await.unwrap();

    let cases = demo_cases(&node);
    let services: BTreeSet<&str> = cases.iter().map(|c| c.service_id.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "minimum-living-guarantee",
            "social-assistance",
            "social-insurance",
            "social-welfare"
        ])
    );
    assert_eq!(cases.len(), 4, "one case per service");
    let store =
        SealedStore::from_url(&ods_frontend::layout::default_store(data_dir.path()).unwrap(), &[])
            .unwrap();
    for case in &cases {
        assert_eq!(case.state, CaseState::Approved, "{}", case.service_id);
        let service = node
            .ledger()
            .service_version(&case.service_id, case.service_version)
            .unwrap()
            .service
            .clone();
        let definition = &service.definition;
        // Every automatic rule held, every step passed, by its own reviewer group.
        assert!(case.verdicts.iter().all(|v| v.passed), "{:?}", case.verdicts);
        assert_eq!(case.steps.len(), definition.steps.len());
        for step in &case.steps {
            let spec = service.step(&step.step).unwrap();
            assert!(step.passed);
            assert_eq!(step.by.organisation, spec.organisation);
            assert_eq!(step.by.role, format!("reviewer:{}", spec.role));
        }
        let actions: Vec<&str> = case.history.iter().map(|h| h.action.as_str()).collect();
        let mut expected = vec!["apply", "check"];
        expected.extend(std::iter::repeat_n("step", definition.steps.len()));
        expected.push("decide");
        assert_eq!(actions, expected, "{}", case.service_id);
        let decision = case.last_decision().unwrap();
        assert_eq!(decision.by.organisation, definition.decision.organisation);
        assert_eq!(decision.by.role, format!("reviewer:{}", definition.decision.role));
        assert!(decision.amount.is_some_and(|a| a > 0), "{}", case.service_id);

        // The documents open for the applicant and for a reviewer, against
        // the hashes on the ledger.
        let citizen =
            KeyPair::load(&dir.join(format!("{}.key", cases::citizen_stem(&case.service_id))))
                .unwrap();
        assert_eq!(case.applicant, citizen.address());
        let intake =
            KeyPair::load(&dir.join(format!("{}.key", cases::reviewer_stem(&definition.checks))))
                .unwrap();
        let required = definition.documents.iter().filter(|d| d.required).count();
        assert_eq!(case.documents.len(), required);
        for document in &case.documents {
            for reader in [&citizen, &intake] {
                let plaintext = case_docs::open_document(
                    &store,
                    &case.case_id,
                    &document.name,
                    &document.hash,
                    reader,
                )
                .await
                .unwrap();
                assert_eq!(case_docs::document_hash(&plaintext), document.hash);
            }
        }
        // The signed decision is the one anchored, signed by the deciding
        // organisation's key.
        let file = std::fs::read_to_string(
            dir.join("decisions").join(format!("{}-decision.json", case.case_id)),
        )
        .unwrap();
        let signed = SignedDecision::from_json(&file).unwrap();
        assert_eq!(signed.verify_against(&decision.document_hash).unwrap(), decision.document_hash);
        let organisation_key = node
            .ledger()
            .consortium()
            .organisation_key(&definition.decision.organisation)
            .copied()
            .unwrap();
        let _ = signed.verify_signed_by(&organisation_key).unwrap();
        assert_eq!(signed.document.amount_minor, decision.amount);
    }
    let walkthrough = cases::walkthrough(&node, data_dir.path(), "");
    for case in &cases {
        assert!(walkthrough.contains(&case.case_id), "{walkthrough}");
    }
    assert!(walkthrough.contains("step household_survey"), "{walkthrough}");
    assert!(walkthrough.contains("cairn case list --queue"), "{walkthrough}");
    assert!(!walkthrough.contains("Wang Fang"), "no form contents in the walkthrough");

    // A second start on the same data directory adds no transaction.
    let size = node.ledger().merkle_log().size();
    populate(&node, data_dir.path()).await.unwrap();
    assert_eq!(node.ledger().merkle_log().size(), size);
    drop(node);
    let node = reopen(data_dir.path()).await;
    populate(&node, data_dir.path()).await.unwrap();
    assert_eq!(node.ledger().merkle_log().size(), size);
    assert_eq!(demo_cases(&node).len(), 4);
}
