//! The Cairn smart contract: the pure, deterministic ledger core.
//!
//! This crate owns the transaction types and their validation, the execution
//! of valid transactions over the key-value state, endorsement policies, block
//! derivation, role-bound authority, the RFC 6962 / RFC 9162 Merkle log with inclusion and
//! consistency proofs, the state commitment, C2SP signed checkpoints,
//! electronic certificates and their channels, and the accounts of
//! commercial verifiers.
//!
//! It does no I/O and reads no clock, randomness, environment variable or
//! global: [`Ledger::apply_record`] is a function of the log prefix, so every
//! replica that applies the same records derives the same blocks and the same
//! state root, bit for bit. Timestamps and nonces are fields of transactions,
//! chosen by their submitters. Maps are `BTreeMap`s, never hash maps, and no
//! floating point is used.
//!
//! A rejected transaction is data, not an error: it stays in its block with
//! its [`ValidationCode`], and only valid transactions change state.
//!
//! ```
//! use anchor_chaincode::{genesis, ledger, Ledger};
//! let ca = ed25519_zebra::SigningKey::from([1u8; 32]);
//! let organisations = vec![genesis::Organisation {
//!     name: "ca".into(),
//!     description: String::new(),
//!     public_key: hex::encode(<[u8; 32]>::from(ca.verification_key())),
//! }];
//! let config = genesis::Genesis::new("doc", organisations, "ca");
//! let mut a = Ledger::from_genesis_record(0, &ledger::genesis_record(&config)).unwrap();
//! let mut b = a.clone();
//! let record = ledger::batch_record(vec![b"not a transaction".to_vec()]);
//! let block = a.apply_record(1, &record).clone();
//! assert_eq!(block.receipts[0].code, anchor_chaincode::ValidationCode::Malformed);
//! assert_eq!(b.apply_record(1, &record).hash, block.hash);
//! ```

#![warn(missing_docs)]

pub mod authority;
pub mod billing;
pub mod case;
pub mod cert;
pub mod checkpoint;
pub mod commitment;
mod error;
pub mod genesis;
pub mod ledger;
pub mod merkle;
pub mod service;
pub mod sig;
pub mod tx;
pub mod types;

pub use error::{Error, Result};
pub use ledger::{Block, BlockHeader, Ledger, Receipt};
pub use types::{Address, DataType, Role, TxId, ValidationCode};
