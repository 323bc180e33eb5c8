//! Verification of inclusion and consistency proofs, following RFC 9162
//! §2.1.3.2 and §2.1.4.2.

use super::{Hash, VerifyError, empty_root, node_hash};

/// Returns the number of hashes in an inclusion proof for leaf `index` in a
/// tree of `size` leaves, split into the part below the point where the
/// path to `index` and the path to the last leaf diverge (`inner`) and the
/// left siblings above it (`border`).
///
/// The caller guarantees `index < size`.
pub(super) fn inclusion_proof_shape(index: u64, size: u64) -> (usize, usize) {
    let last = size.saturating_sub(1);
    let inner = (u64::BITS - (index ^ last).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves
/// whose root is `root`, following RFC 9162 §2.1.3.2.
///
/// The proof must have exactly the number of hashes the index and size call
/// for. Note that the proof authenticates the leaf against the root; the tree
/// size must come from the same trusted source as the root (for example a
/// signed checkpoint), as RFC 9162 assumes.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= tree_size {
        return Err(VerifyError::IndexOutOfRange { index, size: tree_size });
    }
    let (inner, border) = inclusion_proof_shape(index, tree_size);
    let expected = inner + border;
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    let mut f = index;
    let mut s = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            // Unreachable with a proof of the expected length.
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable with a proof of the expected length.
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    if r != *root {
        return Err(VerifyError::RootMismatch { computed: r, expected: *root });
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`, following RFC 9162
/// §2.1.4.2.
///
/// Two cases the RFC algorithm leaves out are handled explicitly. When the
/// sizes are equal, the proof must be empty and the roots equal. When
/// `old_size` is 0, the proof must be empty and `old_root` must be the
/// [`empty_root`]; every tree extends the empty tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected: 0 });
        }
        if old_root != new_root {
            return Err(VerifyError::SameSizeRootsDiffer {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected: 0 });
        }
        let empty = empty_root();
        if *old_root != empty {
            return Err(VerifyError::OldRootMismatch { computed: empty, expected: *old_root });
        }
        return Ok(());
    }

    // The old tree's rightmost complete subtree is the node at `level`
    // covering leaves up to `old_size`; the proof is that node (left out
    // when it is the whole old tree, because the verifier knows the old
    // root) followed by its inclusion path in the new tree.
    let level = old_size.trailing_zeros();
    let node_index = (old_size - 1) >> level;
    let node_tree_size = ((new_size - 1) >> level) + 1;
    let (inner, border) = inclusion_proof_shape(node_index, node_tree_size);
    let seed_included = usize::from(node_index != 0);
    let expected = seed_included + inner + border;
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }

    // RFC 9162 §2.1.4.2, with step 2 (prepending the old root when the old
    // size is a power of two) expressed as the choice of the seed.
    let (seed, rest) = if seed_included == 1 {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(VerifyError::WrongProofLength { got: 0, expected }),
        }
    } else {
        (*old_root, proof)
    };
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in rest {
        if s == 0 {
            // Unreachable with a proof of the expected length.
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable with a proof of the expected length.
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch { computed: fr, expected: *old_root });
    }
    if sr != *new_root {
        return Err(VerifyError::NewRootMismatch { computed: sr, expected: *new_root });
    }
    Ok(())
}
