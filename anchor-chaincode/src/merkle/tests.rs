//! Tests of the Merkle log: Certificate Transparency golden roots and proofs,
//! exhaustive small trees against a reference, tampering and edge cases.

use super::proof::inclusion_proof_shape;
use super::*;
use proptest::prelude::*;

/// The leaves of the Certificate Transparency test data, hex-encoded.
const CT_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// The roots of the first 1..=8 CT leaves.
///
/// They were produced independently of this module by a short Python 3
/// script using only `hashlib`, implementing the recursive MTH of RFC 6962
/// with `sha256(b"\x00" + leaf)` and `sha256(b"\x01" + left + right)`.
/// The last one is the well-known root of the eight-leaf CT test tree.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Proofs over the CT leaves, produced by the same Python script with the
/// recursive `PATH` and `PROOF` definitions of RFC 6962.
/// Each entry is `(m, n, is_inclusion, hashes)`.
const CT_PROOFS: [(u64, u64, bool, &[&str]); 7] = [
    (
        0,
        8,
        true,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        true,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, true, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        8,
        false,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        3,
        7,
        false,
        &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    ),
    (4, 8, false, &["6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (
        6,
        8,
        false,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex_str: &str) -> Hash {
    let bytes = hex::decode(hex_str).expect("test vector is hex");
    bytes.try_into().expect("test vector is 32 bytes")
}

fn ct_leaf_hashes() -> Vec<Hash> {
    CT_LEAVES.iter().map(|leaf| leaf_hash(&hex::decode(leaf).expect("hex"))).collect()
}

/// Builds a log whose leaf `i` is the hash of `i` as eight big-endian bytes.
fn numbered_log(size: u64) -> (MerkleLog, Vec<Hash>) {
    let mut log = MerkleLog::new();
    let mut leaves = Vec::new();
    for i in 0..size {
        let leaf = leaf_hash(&i.to_be_bytes());
        assert_eq!(log.push(leaf), i);
        leaves.push(leaf);
    }
    (log, leaves)
}

/// The reference implementation: RFC 6962's recursive definitions, written
/// directly over the leaf list with no shared code beyond the hash
/// functions.
mod reference {
    use super::super::{Hash, empty_root, node_hash};

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// RFC 6962 MTH(D[n]).
    pub(super) fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 PATH(m, D[n]).
    pub(super) fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut proof = path(m, &leaves[..k]);
            proof.push(mth(&leaves[k..]));
            proof
        } else {
            let mut proof = path(m - k, &leaves[k..]);
            proof.push(mth(&leaves[..k]));
            proof
        }
    }

    /// RFC 6962 SUBPROOF(m, D[n], b).
    fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = split(n);
        if m <= k {
            let mut proof = subproof(m, &leaves[..k], b);
            proof.push(mth(&leaves[k..]));
            proof
        } else {
            let mut proof = subproof(m - k, &leaves[k..], false);
            proof.push(mth(&leaves[..k]));
            proof
        }
    }

    /// RFC 6962 PROOF(m, D[n]), with the RFC 9162 empty proof for m = 0.
    pub(super) fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if m == 0 { Vec::new() } else { subproof(m, leaves, true) }
    }
}

#[test]
fn hash_primitives() {
    assert_eq!(empty_root(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_eq!(
        leaf_hash(b""),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut preimage = vec![1u8];
    preimage.extend_from_slice(&a);
    preimage.extend_from_slice(&b);
    assert_eq!(node_hash(&a, &b), Sha256::digest(&preimage).as_slice());
}

#[test]
fn golden_ct_roots() {
    assert_eq!(
        CT_ROOTS[7], "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        "the eight-leaf root is the well-known CT value"
    );
    let leaves = ct_leaf_hashes();
    let mut log = MerkleLog::new();
    assert_eq!(log.root(), empty_root());
    assert_eq!(root_of(&[]), empty_root());
    for (i, leaf) in leaves.iter().enumerate() {
        log.push(*leaf);
        let expected = h(CT_ROOTS[i]);
        assert_eq!(log.root(), expected, "root of size {}", i + 1);
        assert_eq!(root_of(&leaves[..=i]), expected, "root_of size {}", i + 1);
        assert_eq!(reference::mth(&leaves[..=i]), expected, "reference size {}", i + 1);
    }
    for (i, root) in CT_ROOTS.iter().enumerate() {
        assert_eq!(log.root_at(i as u64 + 1), Ok(h(root)));
    }
    assert_eq!(log.root_at(0), Ok(empty_root()));
    assert_eq!(log.root_at(9), Err(ProofError::SizeTooLarge { size: 9, log_size: 8 }));
}

#[test]
fn golden_ct_proofs() {
    let leaves = ct_leaf_hashes();
    let mut log = MerkleLog::new();
    for leaf in &leaves {
        log.push(*leaf);
    }
    for (m, n, is_inclusion, hashes) in CT_PROOFS {
        let expected: Vec<Hash> = hashes.iter().map(|x| h(x)).collect();
        let root = h(CT_ROOTS[n as usize - 1]);
        if is_inclusion {
            assert_eq!(log.inclusion_proof(m, n).unwrap(), expected, "PATH({m}, D[{n}])");
            assert_eq!(reference::path(m as usize, &leaves[..n as usize]), expected);
            verify_inclusion(&leaves[m as usize], m, n, &expected, &root).unwrap();
        } else {
            assert_eq!(log.consistency_proof(m, n).unwrap(), expected, "PROOF({m}, D[{n}])");
            assert_eq!(reference::proof(m as usize, &leaves[..n as usize]), expected);
            let old_root = h(CT_ROOTS[m as usize - 1]);
            verify_consistency(m, n, &old_root, &root, &expected).unwrap();
        }
    }
}

#[test]
fn exhaustive_small_trees_match_reference_and_verify() {
    let (log, leaves) = numbered_log(70);
    for n in 0..=70u64 {
        let prefix = &leaves[..n as usize];
        let root = log.root_at(n).unwrap();
        assert_eq!(root, reference::mth(prefix), "root at {n}");
        assert_eq!(root, root_of(prefix), "root_of at {n}");
        for m in 0..n {
            let proof = log.inclusion_proof(m, n).unwrap();
            assert_eq!(proof, reference::path(m as usize, prefix), "PATH({m}, D[{n}])");
            verify_inclusion(&leaves[m as usize], m, n, &proof, &root).unwrap();
        }
        for m in 0..=n {
            let proof = log.consistency_proof(m, n).unwrap();
            assert_eq!(proof, reference::proof(m as usize, prefix), "PROOF({m}, D[{n}])");
            let old_root = log.root_at(m).unwrap();
            verify_consistency(m, n, &old_root, &root, &proof).unwrap();
        }
    }
    // A log grown to each size on its own agrees with the big log's view.
    for n in 0..=70u64 {
        let (small, _) = numbered_log(n);
        assert_eq!(small.size(), n);
        assert_eq!(small.root(), log.root_at(n).unwrap());
    }
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// Every bit for small trees, a spread of bits for the larger ones.
fn bits_to_flip(n: u64) -> Vec<usize> {
    if n <= 12 { (0..256).collect() } else { vec![0, 7, 8, 100, 129, 254, 255] }
}

#[test]
fn inclusion_tampering_fails() {
    let (log, leaves) = numbered_log(70);
    for n in 1..=70u64 {
        let root = log.root_at(n).unwrap();
        let bits = bits_to_flip(n);
        for m in 0..n {
            let leaf = leaves[m as usize];
            let proof = log.inclusion_proof(m, n).unwrap();
            for &bit in &bits {
                assert!(verify_inclusion(&flip(&leaf, bit), m, n, &proof, &root).is_err());
                assert!(verify_inclusion(&leaf, m, n, &proof, &flip(&root, bit)).is_err());
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    assert!(verify_inclusion(&leaf, m, n, &bad, &root).is_err());
                }
            }
            // Extra or missing hashes.
            let mut longer = proof.clone();
            longer.push(root);
            assert!(matches!(
                verify_inclusion(&leaf, m, n, &longer, &root),
                Err(VerifyError::WrongProofLength { .. })
            ));
            let mut prefixed = vec![leaf];
            prefixed.extend_from_slice(&proof);
            assert!(verify_inclusion(&leaf, m, n, &prefixed, &root).is_err());
            if !proof.is_empty() {
                assert!(verify_inclusion(&leaf, m, n, &proof[1..], &root).is_err());
                assert!(verify_inclusion(&leaf, m, n, &proof[..proof.len() - 1], &root).is_err());
            }
            // Another index in the same tree never verifies.
            for other in 0..n + 2 {
                if other != m {
                    assert!(verify_inclusion(&leaf, other, n, &proof, &root).is_err());
                }
            }
            // Another size: the root of that size never matches. Against
            // the original root, a size only verifies when it calls for
            // exactly the same path shape, because the proof
            // authenticates the root and the size must be trusted along
            // with it (RFC 9162 §2.1.3.2 takes both from the signed head).
            for other in 0..n + 3 {
                if other == n {
                    continue;
                }
                if other <= log.size() {
                    let other_root = log.root_at(other).unwrap();
                    let accepted = verify_inclusion(&leaf, m, other, &proof, &other_root).is_ok();
                    assert!(
                        !accepted || log.inclusion_proof(m, other) == Ok(proof.clone()),
                        "size {other} accepted PATH({m}, D[{n}])"
                    );
                }
                if verify_inclusion(&leaf, m, other, &proof, &root).is_ok() {
                    assert_eq!(
                        inclusion_proof_shape(m, other),
                        inclusion_proof_shape(m, n),
                        "size {other} accepted a proof for size {n} with another shape"
                    );
                }
            }
        }
    }
}

#[test]
fn consistency_tampering_fails() {
    let (log, _) = numbered_log(70);
    for n in 1..=70u64 {
        let new_root = log.root_at(n).unwrap();
        let bits = bits_to_flip(n);
        for m in 0..=n {
            let old_root = log.root_at(m).unwrap();
            let proof = log.consistency_proof(m, n).unwrap();
            for &bit in &bits {
                assert!(
                    verify_consistency(m, n, &flip(&old_root, bit), &new_root, &proof).is_err()
                );
                if m != 0 {
                    assert!(
                        verify_consistency(m, n, &old_root, &flip(&new_root, bit), &proof).is_err()
                    );
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err());
                }
            }
            let mut longer = proof.clone();
            longer.push(new_root);
            assert!(matches!(
                verify_consistency(m, n, &old_root, &new_root, &longer),
                Err(VerifyError::WrongProofLength { .. })
            ));
            if !proof.is_empty() {
                assert!(verify_consistency(m, n, &old_root, &new_root, &proof[1..]).is_err());
                assert!(
                    verify_consistency(m, n, &old_root, &new_root, &proof[..proof.len() - 1])
                        .is_err()
                );
            }
            // Claiming other sizes, with the honest roots of those sizes:
            // the proof only verifies where it is also the honest proof of
            // that claim (an empty proof from size 0, or between equal sizes).
            for other_m in 0..=n + 1 {
                if other_m != m && other_m <= log.size() {
                    let other_root = log.root_at(other_m).unwrap();
                    let accepted =
                        verify_consistency(other_m, n, &other_root, &new_root, &proof).is_ok();
                    assert!(
                        !accepted || log.consistency_proof(other_m, n) == Ok(proof.clone()),
                        "old size {other_m} accepted PROOF({m}, D[{n}])"
                    );
                }
            }
            for other_n in m..=n + 2 {
                if other_n != n && other_n <= log.size() {
                    let other_root = log.root_at(other_n).unwrap();
                    let accepted =
                        verify_consistency(m, other_n, &old_root, &other_root, &proof).is_ok();
                    assert!(
                        !accepted || log.consistency_proof(m, other_n) == Ok(proof.clone()),
                        "new size {other_n} accepted PROOF({m}, D[{n}])"
                    );
                }
            }
            // With the original roots, sizes other than the true ones never
            // verify, except that a consistency proof, like an inclusion
            // proof, authenticates roots rather than sizes: a size that
            // calls for the very same proof shape is indistinguishable.
            for other_m in 1..n {
                if other_m != m
                    && verify_consistency(other_m, n, &old_root, &new_root, &proof).is_ok()
                {
                    panic!(
                        "old size {other_m} accepted PROOF({m}, D[{n}]) with the old root of size {m}"
                    );
                }
            }
            for other_n in (m.max(1)..n + 3).filter(|&size| size <= log.size()) {
                if other_n != n
                    && verify_consistency(m, other_n, &old_root, &new_root, &proof).is_ok()
                {
                    // Only a new size whose proof has the same shape can
                    // be confused with the true one; its own root differs.
                    let shape = log.consistency_proof(m, other_n).map(|p| p.len());
                    assert_eq!(
                        shape,
                        Ok(proof.len()),
                        "new size {other_n} accepted PROOF({m}, D[{n}])"
                    );
                    assert_ne!(log.root_at(other_n), Ok(new_root));
                }
            }
        }
    }
}

#[test]
fn edge_cases() {
    let (log, leaves) = numbered_log(5);
    let root = log.root();
    let empty = MerkleLog::new();
    assert_eq!(empty.size(), 0);
    assert_eq!(empty.root(), empty_root());
    assert_eq!(empty.leaf(0), None);
    assert_eq!(log.leaf(4), Some(leaves[4]));
    assert_eq!(log.leaf(5), None);
    assert_eq!(log.leaf(u64::MAX), None);

    assert_eq!(log.inclusion_proof(7, 5), Err(ProofError::IndexOutOfRange { index: 7, size: 5 }));
    assert_eq!(log.inclusion_proof(0, 6), Err(ProofError::SizeTooLarge { size: 6, log_size: 5 }));
    assert_eq!(log.inclusion_proof(0, 0), Err(ProofError::IndexOutOfRange { index: 0, size: 0 }));
    assert_eq!(
        log.consistency_proof(4, 3),
        Err(ProofError::SizesOutOfOrder { old_size: 4, new_size: 3 })
    );
    assert_eq!(
        log.consistency_proof(1, u64::MAX),
        Err(ProofError::SizeTooLarge { size: u64::MAX, log_size: 5 })
    );
    assert_eq!(log.consistency_proof(0, 5), Ok(Vec::new()));
    assert_eq!(log.consistency_proof(5, 5), Ok(Vec::new()));
    assert_eq!(log.consistency_proof(0, 0), Ok(Vec::new()));

    let err = verify_inclusion(&leaves[0], 7, 5, &[], &root).unwrap_err();
    assert_eq!(err.to_string(), "leaf index 7 is not below tree size 5");
    assert!(verify_inclusion(&leaves[0], 0, 0, &[], &empty_root()).is_err());
    let proof = log.inclusion_proof(0, 5).unwrap();
    let err = verify_inclusion(&leaves[0], 0, 5, &proof[..2], &root).unwrap_err();
    assert_eq!(err.to_string(), "proof has 2 hashes, expected 3");
    let err = verify_inclusion(&leaves[1], 0, 5, &proof, &root).unwrap_err();
    assert!(err.to_string().starts_with("computed root "), "{err}");
    assert!(
        err.to_string().ends_with(&format!("does not match expected root {}", hex::encode(root)))
    );

    // Extreme sizes never panic.
    let huge_proof = vec![root; 64];
    for (index, size) in [(0, u64::MAX), (u64::MAX - 1, u64::MAX), (u64::MAX, u64::MAX)] {
        assert!(verify_inclusion(&leaves[0], index, size, &huge_proof, &root).is_err());
        assert!(verify_inclusion(&leaves[0], index, size, &[], &root).is_err());
    }
    for (old, new) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (u64::MAX, u64::MAX), (u64::MAX, 1)]
    {
        assert!(verify_consistency(old, new, &root, &root, &huge_proof).is_err());
        assert!(verify_consistency(old, new, &root, &leaves[0], &[]).is_err());
    }

    // Equal sizes: an empty proof and equal roots.
    verify_consistency(5, 5, &root, &root, &[]).unwrap();
    assert!(matches!(
        verify_consistency(5, 5, &root, &leaves[0], &[]),
        Err(VerifyError::SameSizeRootsDiffer { size: 5, .. })
    ));
    assert_eq!(
        verify_consistency(5, 5, &root, &root, &[root]),
        Err(VerifyError::WrongProofLength { got: 1, expected: 0 })
    );
    // Old size 0: an empty proof and the empty root.
    verify_consistency(0, 5, &empty_root(), &root, &[]).unwrap();
    verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 5, &empty_root(), &root, &[root]),
        Err(VerifyError::WrongProofLength { got: 1, expected: 0 })
    );
    assert!(matches!(
        verify_consistency(0, 5, &root, &root, &[]),
        Err(VerifyError::OldRootMismatch { .. })
    ));
    assert_eq!(
        verify_consistency(6, 5, &root, &root, &[]).unwrap_err().to_string(),
        "old tree size 6 is greater than new tree size 5"
    );
    // A non-empty tree needs a non-empty proof from a smaller non-empty tree.
    assert_eq!(
        verify_consistency(4, 5, &log.root_at(4).unwrap(), &root, &[]),
        Err(VerifyError::WrongProofLength { got: 0, expected: 1 })
    );
}

#[test]
fn large_log_stays_fast() {
    // Two hundred thousand leaves: any O(n) step per query would make the
    // loop below take far longer than the pushes themselves.
    let (log, leaves) = numbered_log(200_000);
    let root = log.root();
    assert_eq!(root, root_of(&leaves));
    for size in [1u64, 2, 3, 65_537, 131_072, 199_999, 200_000] {
        let at = log.root_at(size).unwrap();
        for index in [0, size / 3, size - 1] {
            let proof = log.inclusion_proof(index, size).unwrap();
            verify_inclusion(&leaves[index as usize], index, size, &proof, &at).unwrap();
        }
        for old in [1, size / 2, size - 1] {
            let proof = log.consistency_proof(old, size).unwrap();
            verify_consistency(old, size, &log.root_at(old).unwrap(), &at, &proof).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_sizes_match_reference(
        size in 1u64..3000,
        index_seed in any::<u64>(),
        old_seed in any::<u64>(),
        new_seed in any::<u64>(),
    ) {
        let (log, leaves) = numbered_log(size);
        let new_size = 1 + new_seed % size;
        let index = index_seed % new_size;
        let old_size = old_seed % (new_size + 1);
        let prefix = &leaves[..new_size as usize];
        let root = log.root_at(new_size).unwrap();
        prop_assert_eq!(root, reference::mth(prefix));
        prop_assert_eq!(log.root(), root_of(&leaves));

        let path = log.inclusion_proof(index, new_size).unwrap();
        prop_assert_eq!(&path, &reference::path(index as usize, prefix));
        let leaf = leaves[index as usize];
        prop_assert!(verify_inclusion(&leaf, index, new_size, &path, &root).is_ok());

        let proof = log.consistency_proof(old_size, new_size).unwrap();
        prop_assert_eq!(&proof, &reference::proof(old_size as usize, prefix));
        let old_root = log.root_at(old_size).unwrap();
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &root, &proof).is_ok());
        if old_size > 0 && old_size < new_size {
            let wrong_old = leaf_hash(b"not the old root");
            let result = verify_consistency(old_size, new_size, &wrong_old, &root, &proof);
            prop_assert!(result.is_err());
        }
    }
}

#[test]
fn subtrees_are_the_roots_of_their_aligned_ranges() {
    let (log, leaves) = numbered_log(1000);
    for level in 0..10u32 {
        let width = 1usize << level;
        for index in 0..(1000 / width) {
            let range = &leaves[index * width..(index + 1) * width];
            assert_eq!(log.subtree(level, index as u64), Some(root_of(range)), "{level}/{index}");
        }
        // The first incomplete subtree of each level is not there.
        assert_eq!(log.subtree(level, (1000 / width) as u64), None, "{level}");
    }
    assert_eq!(log.subtree(10, 0), None);
    assert_eq!(log.subtree(u32::MAX, u64::MAX), None);
}
