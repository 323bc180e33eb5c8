//! The server side: checking a request's envelope, its time and its nonce,
//! and looking the caller up on the ledger.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anchor_chaincode::{Address, Role};
use sha2::{Digest, Sha256};

use super::replay::ReplayCache;
use super::{AuthError, Destination, MAX_REQUEST_BYTES, ReplayLimits, SignedRequest};

/// What the verifier needs to know about the caller from the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerStatus {
    /// A registered identity.
    Registered {
        /// Its organisation.
        organisation: String,
        /// Its role.
        role: Role,
    },
    /// A registered identity that has been revoked.
    Revoked {
        /// Why, as recorded on the ledger.
        reason: String,
    },
    /// No identity with this address is registered.
    Unknown,
}

/// A caller whose request passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The caller's address.
    pub address: Address,
    /// The caller's organisation, from the ledger.
    pub organisation: String,
    /// The caller's role, from the ledger.
    pub role: Role,
    /// The request's nonce.
    pub nonce: [u8; 16],
    /// When the caller signed, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The envelope as received, kept as the caller's evidence in the
    /// access event of the request.
    pub envelope: Vec<u8>,
}
/// Checks signed request envelopes and remembers nonces to refuse replays.
pub struct RequestVerifier {
    window_ms: u64,
    limits: ReplayLimits,
    cache: Mutex<ReplayCache>,
}

impl fmt::Debug for RequestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestVerifier")
            .field("window_ms", &self.window_ms)
            .field("cached_nonces", &self.cached_nonces())
            .finish()
    }
}

impl RequestVerifier {
    /// A verifier accepting timestamps up to `window` either side of the
    /// server's clock, with the default [`ReplayLimits`].
    pub fn new(window: Duration) -> RequestVerifier {
        RequestVerifier::with_limits(window, ReplayLimits::default())
    }

    /// A verifier whose replay cache has these bounds.
    pub fn with_limits(window: Duration, limits: ReplayLimits) -> RequestVerifier {
        RequestVerifier {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            limits,
            cache: Mutex::new(ReplayCache::default()),
        }
    }

    /// The window either side of the server's clock, in milliseconds.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// How many nonces the replay cache holds now.
    pub fn cached_nonces(&self) -> usize {
        self.lock().seen.len()
    }

    /// A panic elsewhere while the lock was held cannot leave the cache
    /// half-updated in a way that matters (at worst an entry is in one index
    /// only), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, ReplayCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the nonce of a request accepted before a restart (read from
    /// a durable log), so that replaying it is refused. Requests already out
    /// of the window at `now_ms` are ignored; the bounds do not apply (these
    /// requests were accepted within them). Answers whether it was kept.
    pub fn restore(&self, request: &SignedRequest, now_ms: u64) -> bool {
        let mut cache = self.lock();
        cache.latest_now_ms = cache.latest_now_ms.max(now_ms);
        if request.timestamp_ms < cache.latest_now_ms.saturating_sub(self.window_ms)
            || cache.seen.contains_key(&(request.public_key, request.nonce))
        {
            return false;
        }
        cache.insert(request.public_key, request.nonce, request.timestamp_ms);
        true
    }

    /// Checks a request; see the module docs for the order of the checks.
    /// `header` is the value of [`AUTH_METADATA_KEY`], `method` the gRPC
    /// method path, `body` the encoded request message, `destination` this
    /// node and its chain, and `now_ms` the server's clock. `caller` looks
    /// the signer's address up on the ledger; it is called only once the
    /// signature has verified.
    pub fn verify(
        &self,
        header: Option<&[u8]>,
        method: &str,
        body: &[u8],
        destination: &Destination<'_>,
        now_ms: u64,
        caller: impl FnOnce(&Address) -> CallerStatus,
    ) -> Result<VerifiedCaller, AuthError> {
        let header = header.ok_or(AuthError::MissingHeader)?;
        if body.len() > MAX_REQUEST_BYTES {
            return Err(AuthError::Oversized { size: body.len(), max: MAX_REQUEST_BYTES });
        }
        let request = SignedRequest::decode(header)?;
        request.check_destination(destination)?;
        let body_sha256: [u8; 32] = Sha256::digest(body).into();
        if body_sha256 != request.body_sha256 {
            return Err(AuthError::BodyMismatch);
        }
        self.check_time(request.timestamp_ms, now_ms)?;
        request.check_signature(method)?;

        let address = request.address();
        let (organisation, role) = match caller(&address) {
            CallerStatus::Registered { organisation, role } => (organisation, role),
            CallerStatus::Revoked { reason } => {
                return Err(AuthError::Revoked { address, reason });
            }
            CallerStatus::Unknown => return Err(AuthError::UnknownIdentity { address }),
        };

        self.remember(&request, now_ms)?;
        Ok(VerifiedCaller {
            address,
            organisation,
            role,
            nonce: request.nonce,
            timestamp_ms: request.timestamp_ms,
            envelope: header.to_vec(),
        })
    }

    /// Refuses timestamps outside `[now - window, now + window]`.
    fn check_time(&self, timestamp_ms: u64, now_ms: u64) -> Result<(), AuthError> {
        let window_ms = self.window_ms;
        if timestamp_ms < now_ms.saturating_sub(window_ms) {
            return Err(AuthError::Expired { age_ms: now_ms - timestamp_ms, window_ms });
        }
        if timestamp_ms > now_ms.saturating_add(window_ms) {
            return Err(AuthError::FromFuture { ahead_ms: timestamp_ms - now_ms, window_ms });
        }
        Ok(())
    }

    /// Records the request's nonce, refusing a replay; the last check.
    fn remember(&self, request: &SignedRequest, now_ms: u64) -> Result<(), AuthError> {
        let window_ms = self.window_ms;
        let mut cache = self.lock();
        cache.latest_now_ms = cache.latest_now_ms.max(now_ms);
        let latest = cache.latest_now_ms;
        cache.evict_before(latest.saturating_sub(window_ms));
        // The server's clock stepped back: nonces of this age may already be
        // forgotten, so the request cannot be told apart from a replay.
        if request.timestamp_ms < latest.saturating_sub(window_ms) {
            return Err(AuthError::Expired { age_ms: latest - request.timestamp_ms, window_ms });
        }
        if cache.seen.contains_key(&(request.public_key, request.nonce)) {
            return Err(AuthError::Replayed {
                address: request.address(),
                nonce: hex::encode(request.nonce),
                window_ms,
            });
        }
        let of_key = cache.per_key.get(&request.public_key).copied().unwrap_or(0);
        if of_key >= self.limits.per_identity {
            return Err(AuthError::IdentityOverLimit {
                address: request.address(),
                limit: self.limits.per_identity,
                window_ms,
            });
        }
        if cache.seen.len() >= self.limits.total {
            return Err(AuthError::ReplayCacheFull { capacity: self.limits.total });
        }
        cache.insert(request.public_key, request.nonce, request.timestamp_ms);
        Ok(())
    }
}
