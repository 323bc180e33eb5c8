//! The billing gate in front of billable requests: rate limits and prepaid
//! balances, enforced before service, and the meter's view of the ledger's
//! plans (`asset_registry::billing::periods`).
//!
//! A billable request of an account holder first takes a token from the
//! holder's rate-limit bucket on this node; a prepaid holder's request is
//! then quoted from the meter (what the holder has been charged, plus what is
//! reserved for its requests in flight) and its price set aside under the
//! same lock that queues its access event ([`AccessLog::admit`]). A refusal
//! is recorded as a denied access event and answered as [`Refused`]; the
//! gRPC layer turns it into `RESOURCE_EXHAUSTED`. No data is served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_control::request::VerifiedCaller;
use anchor_chaincode::Address;
use anchor_chaincode::billing::{Payment, Plan};
use asset_registry::audit::{AccessEvent, Decision};
use asset_registry::billing::{Month, Reservation, Tariff, Units};

use super::Node;
use super::access_log::{AccessLog, Metering, new_event_id};

/// Whether a request's rate-limit token is still to be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateLimit {
    /// Take it now.
    Take,
    /// [`Gate::check_rate`] took it already.
    AlreadyTaken,
}

/// Why the gate did not let a request through.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Refused for `refusal`, recorded as the denied access event `event_id`.
    Refusal { refusal: Refusal, event_id: String },
    /// The access event could not be recorded or the projection not read.
    Unavailable(String),
}

/// Metering for a node's access log: its address and its ledger's plans.
pub(crate) fn metering(node: &Node) -> Metering {
    let ledger_node = node.clone();
    Metering {
        node: node.key().address().to_string(),
        chain_id: node.ledger().consortium().chain_id().to_string(),
        plans: Arc::new(move |holder: &str| {
            let address: Address = holder.parse().ok()?;
            ledger_node.ledger().account(&address).map(asset_registry::billing::periods)
        }),
    }
}

/// Why a billable request was refused before service.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Over the plan's rate limit on this node.
    RateLimited { limit: u32, retry_after: Duration },
    /// A prepaid balance that does not cover the price.
    Balance { balance: i128, price: u64, currency: String },
}

impl Refusal {
    /// The reason recorded in the access event and returned to the caller.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::RateLimited { limit, retry_after } => format!(
                "rate limit of {limit} requests per second exceeded; retry in {} ms",
                retry_after.as_millis().max(1)
            ),
            Refusal::Balance { balance, price, currency } => format!(
                "prepaid balance of {balance} {currency} (minor units) does not cover the price of {price} {currency}; top up the account"
            ),
        }
    }
}

/// A token bucket: `rate` requests per second, bursts of as many.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: u32, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(rate);
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * capacity;
        self.tokens = (self.tokens + refill).min(capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / capacity))
        }
    }
}

/// What the gate needs to know of an account, read from the ledger at once.
struct AccountView {
    holder: String,
    currency: String,
    plan: Plan,
    credited: u64,
}

/// How long the charges other nodes logged for a holder are reused before
/// the PostgreSQL projection is asked again.
const OTHERS_REFRESH: Duration = Duration::from_secs(1);

/// The gate in front of billable requests.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    buckets: Mutex<BTreeMap<Address, Bucket>>,
    /// In the scaled mode: the projection, for what other nodes charged.
    directory: Option<super::reads::Projections>,
    /// This node's address (the `node` of the lines it logged).
    node_address: String,
    others: Mutex<BTreeMap<Address, (u64, Instant)>>,
}

impl Gate {
    /// A gate; with `directory`, prepaid balances also count what the
    /// projection holds of the holder's events logged by other nodes.
    pub(crate) fn new(directory: Option<super::reads::Projections>, node_address: String) -> Gate {
        Gate { directory, node_address, ..Gate::default() }
    }

    /// What other nodes charged `holder`, from the projection (cached for
    /// [`OTHERS_REFRESH`]); 0 without one.
    async fn charged_elsewhere(&self, holder: Address) -> Result<u64, Refused> {
        let Some(directory) = &self.directory else { return Ok(0) };
        {
            let others = self.others.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((charged, at)) = others.get(&holder)
                && at.elapsed() < OTHERS_REFRESH
            {
                return Ok(*charged);
            }
        }
        let charged = directory
            .billing_charged_by_others(&holder.to_string(), &self.node_address)
            .await
            .map_err(|e| {
                Refused::Unavailable(format!("cannot read the billing projection: {e}"))
            })?;
        let mut others = self.others.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = others.insert(holder, (charged, Instant::now()));
        Ok(charged)
    }

    fn take_token(&self, holder: Address, rate: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket =
            buckets.entry(holder).or_insert_with(|| Bucket { tokens: f64::from(rate), at: now });
        bucket.take(rate, now)
    }

    /// Rate limit only: for a request whose work comes before its event is
    /// recorded (a certificate check), so that an over-limit caller costs no work.
    pub(crate) async fn check_rate(
        &self,
        node: &Node,
        access: &AccessLog,
        caller: &VerifiedCaller,
        denied: AccessEvent,
    ) -> Result<(), Refused> {
        if !access.metering() {
            return Ok(());
        }
        let Some(rate) = node
            .ledger()
            .account(&caller.address)
            .map(|account| account.plan().rate_limit_per_second)
            .filter(|&rate| rate > 0)
        else {
            return Ok(());
        };
        match self.take_token(caller.address, rate) {
            Ok(()) => Ok(()),
            Err(retry_after) => {
                Err(refuse(access, denied, Refusal::RateLimited { limit: rate, retry_after }).await)
            }
        }
    }

    /// Records the allowed `event` of a billable request with `units` if the
    /// caller's account lets it through; otherwise records it as denied with
    /// the reason and answers `RESOURCE_EXHAUSTED`. `reserve_for` is the id of
    /// the event that will be metered when it is not `event` itself (a
    /// download's closing event); `rate_limit` says whether
    /// [`Gate::check_rate`] already took the request's token. Answers the event id.
    pub(crate) async fn record(
        &self,
        node: &Node,
        access: &AccessLog,
        event: AccessEvent,
        units: Units,
        reserve_for: Option<&str>,
        rate_limit: RateLimit,
    ) -> Result<String, Refused> {
        let event_id = event.event_id.clone();
        let unavailable =
            |e: anyhow::Error| Refused::Unavailable(format!("cannot record the access event: {e}"));
        if !access.metering() {
            let _ = access.record(event).await.map_err(unavailable)?;
            return Ok(event_id);
        }
        let holder: Option<Address> = event.identity.parse().ok();
        let view = holder.and_then(|holder| {
            node.ledger().account(&holder).map(|account| AccountView {
                holder: account.holder.to_string(),
                currency: account.currency.clone(),
                plan: account.plan().clone(),
                credited: account.credited,
            })
        });
        let (Some(holder), Some(view)) = (holder, view) else {
            // No account: metered, never charged.
            let _ = access.record(event).await.map_err(unavailable)?;
            return Ok(event_id);
        };
        let rate = view.plan.rate_limit_per_second;
        if rate > 0
            && rate_limit == RateLimit::Take
            && let Err(retry_after) = self.take_token(holder, rate)
        {
            return Err(
                refuse(access, event, Refusal::RateLimited { limit: rate, retry_after }).await
            );
        }
        if view.plan.payment == Payment::Postpaid {
            let _ = access.record(event).await.map_err(unavailable)?;
            return Ok(event_id);
        }
        let elsewhere = self.charged_elsewhere(holder).await?;
        let month = Month::of_ms(event.time_ms);
        let tariff = Tariff::from(&view.plan);
        let reserve_for = reserve_for.unwrap_or(&event_id).to_owned();
        let admitted = access
            .admit(event.clone(), &reserve_for, |meter| {
                let price = meter.quote(&view.holder, month, &tariff, units);
                let balance = i128::from(view.credited)
                    - i128::from(elsewhere)
                    - i128::from(meter.charged(&view.holder))
                    - i128::from(meter.reserved(&view.holder));
                if i128::from(price) > balance {
                    Err(Refusal::Balance { balance, price, currency: view.currency.clone() })
                } else {
                    Ok(Reservation { holder: view.holder.clone(), month, units, amount: price })
                }
            })
            .await
            .map_err(unavailable)?;
        match admitted {
            Ok(_) => Ok(event_id),
            Err(refusal) => Err(refuse(access, event, refusal).await),
        }
    }
}

/// Records `event` as denied for `refusal` and answers the refusal.
async fn refuse(access: &AccessLog, mut event: AccessEvent, refusal: Refusal) -> Refused {
    event.event_id = new_event_id();
    event.decision = Decision::Denied;
    event.reason = refusal.reason();
    event.bytes = 0;
    let event_id = event.event_id.clone();
    match access.record(event).await {
        Ok(_) => Refused::Refusal { refusal, event_id },
        Err(e) => Refused::Unavailable(format!("cannot record the access event: {e}")),
    }
}
