//! Numbers on the carriers' accounts, without their consoles: what each account holds and
//! where its calls go (`sync`), taking one into Switchboard (`import`), and pointing numbers'
//! incoming calls at this engine (`point`, `point_all`). Nothing here deletes a number of ours
//! because the carrier no longer has it: a sync says so, and the user decides.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Carrier, PhoneNumber, PhoneNumberInput};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::StoreError;
use crate::telephony::{
    AccountNumber, AvailableNumber, CarrierApi, CarrierError, NumberKind, NumberQuery, PublicUrl,
    Purchase, PurchaseRequirements,
};
use crate::web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum NumbersError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Carrier(#[from] CarrierError),
    #[error("{carrier} has no number {id} on this account (released, or moved to another account)", carrier = .carrier.as_str())]
    NotOnAccount { carrier: Carrier, id: String },
}

impl From<NumbersError> for ApiError {
    fn from(e: NumbersError) -> Self {
        match e {
            NumbersError::Store(e) => e.into(),
            NumbersError::Carrier(e) => e.into(),
            NumbersError::NotOnAccount { .. } => ApiError::not_found(e.to_string()),
        }
    }
}

/// Where an account's number sends its incoming calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pointing {
    /// To this engine's public URL.
    Here,
    /// To this engine, at a public URL no longer in force.
    OldUrl,
    /// Somewhere else.
    Elsewhere,
    /// Nowhere (or to an application of the carrier's own).
    Nowhere,
}

/// A number on the carrier account, with where it points and whether Switchboard manages it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountNumberView {
    #[serde(flatten)]
    pub number: AccountNumber,
    pub pointing: Pointing,
    /// The managed number's id, when Switchboard manages it.
    pub managed_id: Option<String>,
}

/// What a carrier account holds, against what Switchboard manages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountSync {
    pub carrier: Carrier,
    /// The voice URL numbers point at when they point here; `null` with no public URL set.
    pub voice_url: Option<String>,
    pub numbers: Vec<AccountNumberView>,
    /// Numbers Switchboard manages on this carrier that the account no longer has (released,
    /// or moved): kept, for the user to delete or fix.
    pub missing: Vec<PhoneNumber>,
}

/// Reads the account's numbers of `carrier` and sets them against ours. Managed numbers
/// found by their number learn the carrier's id of it.
pub async fn sync(engine: &Engine, carrier: Carrier) -> Result<AccountSync, NumbersError> {
    let account = engine.carriers().get(carrier)?.account_numbers().await?;
    let public = engine.public();
    let current = public
        .as_deref()
        .and_then(|p| voice_url(engine, carrier, p));
    let ours: Vec<PhoneNumber> = engine
        .store()
        .list_phone_numbers()
        .await?
        .into_iter()
        .filter(|n| n.carrier == carrier)
        .collect();
    let mut numbers = Vec::with_capacity(account.len());
    for n in account {
        let managed = ours.iter().find(|o| {
            o.carrier_number_id.as_deref() == Some(n.carrier_number_id.as_str())
                || o.number.as_str() == n.number
        });
        if let Some(m) = managed
            && m.carrier_number_id.as_deref() != Some(n.carrier_number_id.as_str())
        {
            engine
                .store()
                .set_number_pointed(&m.id, &n.carrier_number_id, m.pointed_url.as_deref())
                .await?;
        }
        numbers.push(AccountNumberView {
            pointing: pointing(&n, current.as_deref(), managed),
            managed_id: managed.map(|m| m.id.clone()),
            number: n,
        });
    }
    let missing = ours
        .into_iter()
        .filter(|o| {
            !numbers
                .iter()
                .any(|n| n.managed_id.as_deref() == Some(o.id.as_str()))
        })
        .collect();
    Ok(AccountSync {
        carrier,
        voice_url: current,
        numbers,
        missing,
    })
}

/// Where `n` points, judged against this engine's URL now and the one it last set.
fn pointing(n: &AccountNumber, current: Option<&str>, ours: Option<&PhoneNumber>) -> Pointing {
    let Some(url) = n.voice_url.as_deref() else {
        return Pointing::Nowhere;
    };
    if current == Some(url) {
        Pointing::Here
    } else if ours.and_then(|o| o.pointed_url.as_deref()) == Some(url) {
        Pointing::OldUrl
    } else {
        Pointing::Elsewhere
    }
}

/// Where `carrier`'s numbers send incoming calls when they point here (`None`: its numbers
/// are not pointed by URL, or the engine has no adapter for it).
fn voice_url(engine: &Engine, carrier: Carrier, public: &PublicUrl) -> Option<String> {
    engine.carriers().get(carrier).ok()?.voice_url(public)
}

/// Takes the account's number `carrier_number_id` into Switchboard (keeping the carrier's
/// id), with these agents; points it here when `point` is set and a public URL is.
pub async fn import(
    engine: &Engine,
    carrier: Carrier,
    carrier_number_id: &str,
    mut input: PhoneNumberInput,
    point: bool,
) -> Result<PhoneNumber, NumbersError> {
    // Checked first: an import that cannot be pointed leaves nothing behind.
    let public = if point {
        Some(engine.public().ok_or(CarrierError::NoPublicUrl)?)
    } else {
        None
    };
    let api = engine.carriers().get(carrier)?;
    let account = api.account_numbers().await?;
    let found = account
        .into_iter()
        .find(|n| n.carrier_number_id == carrier_number_id)
        .ok_or_else(|| NumbersError::NotOnAccount {
            carrier,
            id: carrier_number_id.to_owned(),
        })?;
    input.number = Some(found.number.clone());
    input.carrier = Some(carrier);
    input.carrier_number_id = Some(Some(found.carrier_number_id.clone()));
    if input.label.is_none() && found.friendly_name != found.number {
        input.label = Some(found.friendly_name.clone());
    }
    let region = engine.default_region();
    let number = engine
        .store()
        .create_phone_number(input, region.as_deref())
        .await?;
    let number = match public {
        None => number,
        Some(public) => match api.point_number(&found.carrier_number_id, &public).await {
            Ok(pointed) => {
                engine
                    .store()
                    .set_number_pointed(
                        &number.id,
                        &pointed.carrier_number_id,
                        pointed.voice_url.as_deref(),
                    )
                    .await?
            }
            Err(e) => {
                // Not half-imported: the number stays only on the account, as it was.
                if let Err(undo) = engine.store().delete_phone_number(&number.id).await {
                    tracing::error!(id = %number.id, error = %undo, "an import that failed could not be undone");
                }
                return Err(e.into());
            }
        },
    };
    engine.events().publish(Event::PhoneNumberCreated {
        phone_number: number.clone(),
    });
    Ok(number)
}

/// Points managed number `id`'s incoming calls (and call reports) at this engine.
pub async fn point(engine: &Engine, id: &str) -> Result<PhoneNumber, NumbersError> {
    let number = engine.store().get_phone_number(id).await?;
    let public = engine.public().ok_or(CarrierError::NoPublicUrl)?;
    let api = engine.carriers().get(number.carrier)?;
    let carrier_number_id =
        on_account(api, &number)
            .await?
            .ok_or_else(|| NumbersError::NotOnAccount {
                carrier: number.carrier,
                id: number.number.to_string(),
            })?;
    let pointed = api.point_number(&carrier_number_id, &public).await?;
    let updated = engine
        .store()
        .set_number_pointed(id, &pointed.carrier_number_id, pointed.voice_url.as_deref())
        .await?;
    engine.events().publish(Event::PhoneNumberUpdated {
        phone_number: updated.clone(),
    });
    Ok(updated)
}

/// The carrier's id for `number`: the one kept, or else the account's number of that name
/// (`None`: the account does not have it).
async fn on_account(
    api: &dyn CarrierApi,
    number: &PhoneNumber,
) -> Result<Option<String>, NumbersError> {
    if let Some(id) = &number.carrier_number_id {
        return Ok(Some(id.clone()));
    }
    Ok(find_on_account(api, number.number.as_str())
        .await?
        .map(|n| n.carrier_number_id))
}

/// Stops managing number `id`; with `release`, first gives it back to the carrier, so the
/// account stops paying for it. A release the carrier refuses removes nothing; a number the
/// account no longer has needs no release.
pub async fn remove(engine: &Engine, id: &str, release: bool) -> Result<(), NumbersError> {
    let number = engine.store().get_phone_number(id).await?;
    if release {
        let api = engine.carriers().get(number.carrier)?;
        if let Some(carrier_number_id) = on_account(api, &number).await? {
            api.release_number(&carrier_number_id).await?;
            tracing::info!(number = %number.number, "released to the carrier");
        }
    }
    engine.store().delete_phone_number(id).await?;
    engine
        .events()
        .publish(Event::PhoneNumberDeleted { id: id.into() });
    Ok(())
}

/// One number's result of `point_all`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pointed {
    pub id: String,
    pub number: String,
    /// The number as it now stands, when pointing it worked.
    pub phone_number: Option<PhoneNumber>,
    /// Why it could not be pointed.
    pub error: Option<String>,
}

/// Points every managed number Switchboard has pointed before, or that `all` asks for, at the
/// current public URL (after it changed): each number's own result, none stopping the rest.
pub async fn point_all(engine: &Engine, all: bool) -> Result<Vec<Pointed>, NumbersError> {
    let current = engine.public();
    let mut results = Vec::new();
    for n in engine.store().list_phone_numbers().await? {
        let Some(url) = &n.pointed_url else {
            if !all {
                continue;
            }
            results.push(point_one(engine, n).await);
            continue;
        };
        let up_to_date = current
            .as_deref()
            .and_then(|p| voice_url(engine, n.carrier, p))
            .is_some_and(|v| v == *url);
        if !up_to_date {
            results.push(point_one(engine, n).await);
        }
    }
    Ok(results)
}

async fn point_one(engine: &Engine, n: PhoneNumber) -> Pointed {
    match point(engine, &n.id).await {
        Ok(p) => Pointed {
            id: n.id,
            number: n.number.to_string(),
            phone_number: Some(p),
            error: None,
        },
        Err(e) => Pointed {
            id: n.id,
            number: n.number.to_string(),
            phone_number: None,
            error: Some(e.to_string()),
        },
    }
}

/// Numbers `carrier` offers that match `query`.
pub async fn search(
    engine: &Engine,
    carrier: Carrier,
    query: &NumberQuery,
) -> Result<Vec<AvailableNumber>, NumbersError> {
    Ok(engine
        .carriers()
        .get(carrier)?
        .search_numbers(query)
        .await?)
}

/// What the account has for buying numbers of `kind` in `country`: addresses and bundles.
pub async fn purchase_requirements(
    engine: &Engine,
    carrier: Carrier,
    country: &str,
    kind: NumberKind,
) -> Result<PurchaseRequirements, NumbersError> {
    Ok(engine
        .carriers()
        .get(carrier)?
        .purchase_requirements(country, kind)
        .await?)
}

/// What to buy, and what the bought number does.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyInput {
    /// E.164, as the search gave it.
    pub number: String,
    /// The account's address, for numbers that need one.
    pub address_id: Option<String>,
    /// An approved regulatory bundle (Telnyx: requirement group), for numbers that need one.
    pub bundle_id: Option<String>,
    pub inbound_agent_id: Option<String>,
    pub outbound_agent_id: Option<String>,
}

/// Buys `purchase.number`, pointed at this engine; never asked twice: a purchase whose answer
/// was lost is looked for on the account (and pointed there) instead of being repeated.
pub async fn purchase(
    api: &dyn CarrierApi,
    purchase: &Purchase<'_>,
) -> Result<AccountNumber, NumbersError> {
    match api.buy_number(purchase).await {
        Ok(n) => Ok(n),
        Err(e) if e.maybe_placed() => {
            // It may have been bought: the account says, and nothing is asked twice.
            match find_on_account(api, purchase.number).await? {
                // Bought: kept even if it cannot be pointed now (it shows as not pointed here,
                // with Point here), never left paid for and unmanaged.
                Some(n) => match api
                    .point_number(&n.carrier_number_id, purchase.public)
                    .await
                {
                    Ok(pointed) => Ok(pointed),
                    Err(point) => {
                        tracing::warn!(number = %n.number, error = %point, "bought, but not pointed here yet");
                        Ok(n)
                    }
                },
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The account's number `e164`, if the account has it.
pub async fn find_on_account(
    api: &dyn CarrierApi,
    e164: &str,
) -> Result<Option<AccountNumber>, NumbersError> {
    Ok(api
        .account_numbers()
        .await?
        .into_iter()
        .find(|n| n.number == e164))
}

/// Buys a number pointed at this engine and manages it. Money is never spent twice or left
/// half-spent: the purchase is never repeated once it may have acted (an unconfirmed one is
/// looked for on the account instead), and a bought number Switchboard cannot keep is
/// released again.
pub async fn buy(
    engine: &Engine,
    carrier: Carrier,
    input: BuyInput,
) -> Result<PhoneNumber, NumbersError> {
    let public = engine.public().ok_or(CarrierError::NoPublicUrl)?;
    let api = engine.carriers().get(carrier)?;
    let region = engine.default_region();
    // Checked before paying: a number Switchboard would refuse to store is not bought.
    let fields = PhoneNumberInput {
        number: Some(input.number.clone()),
        carrier: Some(carrier),
        inbound_agent_id: input.inbound_agent_id.clone().map(Some),
        outbound_agent_id: input.outbound_agent_id.clone().map(Some),
        ..PhoneNumberInput::default()
    };
    let e164 = fields
        .clone()
        .create(region.as_deref())
        .map_err(StoreError::from)?
        .number;
    if engine.store().find_phone_number(&e164).await?.is_some() {
        return Err(
            StoreError::from(crate::store::Conflict::DuplicateNumber(e164.to_string())).into(),
        );
    }
    let purchase = Purchase {
        number: e164.as_str(),
        address_id: input.address_id.as_deref(),
        bundle_id: input.bundle_id.as_deref(),
        public: &public,
    };
    let bought = self::purchase(api, &purchase).await?;
    let mut fields = fields;
    fields.carrier_number_id = Some(Some(bought.carrier_number_id.clone()));
    let stored = match engine
        .store()
        .create_phone_number(fields, region.as_deref())
        .await
    {
        Ok(n) => n,
        Err(e) => {
            // Bought but not kept: give it back rather than pay for a number nobody manages.
            if let Err(release) = api.release_number(&bought.carrier_number_id).await {
                tracing::error!(number = %e164, error = %release, "a bought number could not be kept or released; release it in the carrier's console");
            }
            return Err(e.into());
        }
    };
    let stored = engine
        .store()
        .set_number_pointed(
            &stored.id,
            &bought.carrier_number_id,
            bought.voice_url.as_deref(),
        )
        .await?;
    engine.events().publish(Event::PhoneNumberCreated {
        phone_number: stored.clone(),
    });
    Ok(stored)
}
