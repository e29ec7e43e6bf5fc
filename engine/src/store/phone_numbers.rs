//! Managed phone numbers in the store. Agent names are always joined from `agents`.

use sqlx::FromRow;

use super::db::{self, Conn};

use super::agents::agent_exists;
use super::error::{Conflict, Result, StoreError, not_found, unique_or};
use super::{Store, new_id};
use crate::domain::phone_number::PhoneNumberFields;
use crate::domain::{
    Carrier, E164, Invalid, NumberStatus, PhoneNumber, PhoneNumberInput, Timestamp,
};

#[derive(FromRow)]
struct NumberRow {
    id: String,
    number: String,
    carrier: String,
    carrier_number_id: Option<String>,
    inbound_agent_id: Option<String>,
    inbound_agent_name: Option<String>,
    outbound_agent_id: Option<String>,
    outbound_agent_name: Option<String>,
    label: String,
    status: String,
    calls_received: i64,
    created_at: i64,
    pointed_url: Option<String>,
}

impl TryFrom<NumberRow> for PhoneNumber {
    type Error = StoreError;
    fn try_from(r: NumberRow) -> Result<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("phone number {}: {what}", r.id));
        Ok(PhoneNumber {
            number: E164::from_stored(r.number),
            carrier: Carrier::parse(&r.carrier).ok_or_else(|| corrupt("carrier"))?,
            status: NumberStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            id: r.id,
            carrier_number_id: r.carrier_number_id,
            inbound_agent_id: r.inbound_agent_id,
            inbound_agent_name: r.inbound_agent_name,
            outbound_agent_id: r.outbound_agent_id,
            outbound_agent_name: r.outbound_agent_name,
            label: r.label,
            calls_received: r.calls_received,
            created_at: Timestamp::from_millis(r.created_at),
            pointed_url: r.pointed_url,
        })
    }
}

const SELECT: &str = "SELECT n.id, n.number, n.carrier, n.carrier_number_id, \
       n.inbound_agent_id, ia.name AS inbound_agent_name, \
       n.outbound_agent_id, oa.name AS outbound_agent_name, \
       n.label, n.status, n.calls_received, n.created_at, n.pointed_url \
     FROM phone_numbers n \
     LEFT JOIN agents ia ON ia.id = n.inbound_agent_id \
     LEFT JOIN agents oa ON oa.id = n.outbound_agent_id";

impl Store {
    pub async fn list_phone_numbers(&self) -> Result<Vec<PhoneNumber>> {
        db::query_as::<NumberRow>(&format!("{SELECT} ORDER BY n.number"))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(PhoneNumber::try_from)
            .collect()
    }

    pub async fn get_phone_number(&self, id: &str) -> Result<PhoneNumber> {
        let mut conn = self.pool().acquire().await?;
        fetch_number(&mut conn, id).await
    }

    /// Records where Switchboard pointed the number's incoming calls (`None`: nowhere it
    /// knows of), and the carrier's id of it.
    pub async fn set_number_pointed(
        &self,
        id: &str,
        carrier_number_id: &str,
        pointed_url: Option<&str>,
    ) -> Result<PhoneNumber> {
        let (id, carrier_number_id, url) = (
            id.to_owned(),
            carrier_number_id.to_owned(),
            pointed_url.map(str::to_owned),
        );
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE phone_numbers SET carrier_number_id = ?, pointed_url = ? WHERE id = ?",
                )
                .bind(&carrier_number_id)
                .bind(&url)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("phone number", &id));
                }
                fetch_number(conn, &id).await
            })
        })
        .await
    }

    /// Looks a number up by its E.164 form (how carriers name the called number).
    pub async fn find_phone_number(&self, number: &E164) -> Result<Option<PhoneNumber>> {
        db::query_as::<NumberRow>(&format!("{SELECT} WHERE n.number = ?"))
            .bind(number.as_str())
            .fetch_optional(self.pool())
            .await?
            .map(PhoneNumber::try_from)
            .transpose()
    }

    pub async fn create_phone_number(
        &self,
        input: PhoneNumberInput,
        default_region: Option<&str>,
    ) -> Result<PhoneNumber> {
        let fields = input.create(default_region)?;
        self.write(move |conn| {
            Box::pin(async move {
                let id = new_id();
                check_agents(conn, &fields).await?;
                let result = db::query(
                    "INSERT INTO phone_numbers (id, number, carrier, carrier_number_id, \
                     inbound_agent_id, outbound_agent_id, label, status, calls_received, \
                     created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                )
                .bind(&id)
                .bind(fields.number.as_str())
                .bind(fields.carrier.as_str())
                .bind(&fields.carrier_number_id)
                .bind(&fields.inbound_agent_id)
                .bind(&fields.outbound_agent_id)
                .bind(&fields.label)
                .bind(fields.status.as_str())
                .bind(Timestamp::now().as_millis())
                .execute(&mut *conn)
                .await;
                unique_or(result, || {
                    Conflict::DuplicateNumber(fields.number.to_string()).into()
                })?;
                fetch_number(conn, &id).await
            })
        })
        .await
    }

    pub async fn update_phone_number(
        &self,
        id: &str,
        input: PhoneNumberInput,
    ) -> Result<PhoneNumber> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let current = fetch_number(conn, &id).await?;
                let fields = input.update(PhoneNumberFields::from(&current))?;
                check_agents(conn, &fields).await?;
                db::query(
                    "UPDATE phone_numbers SET carrier = ?, carrier_number_id = ?, \
                     inbound_agent_id = ?, outbound_agent_id = ?, label = ?, status = ? \
                     WHERE id = ?",
                )
                .bind(fields.carrier.as_str())
                .bind(&fields.carrier_number_id)
                .bind(&fields.inbound_agent_id)
                .bind(&fields.outbound_agent_id)
                .bind(&fields.label)
                .bind(fields.status.as_str())
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                fetch_number(conn, &id).await
            })
        })
        .await
    }

    pub async fn delete_phone_number(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("DELETE FROM phone_numbers WHERE id = ?")
                    .bind(&id)
                    .execute(conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found("phone number", &id));
                }
                Ok(())
            })
        })
        .await
    }
}

/// An assignment must name an existing agent: a 422 that says which, not a foreign-key error.
async fn check_agents(conn: &mut Conn<'_>, fields: &PhoneNumberFields) -> Result<()> {
    for (field, id) in [
        ("inbound_agent_id", &fields.inbound_agent_id),
        ("outbound_agent_id", &fields.outbound_agent_id),
    ] {
        if let Some(id) = id
            && !agent_exists(conn, id).await?
        {
            return Err(Invalid::new(field, format!("no agent has id {id}")).into());
        }
    }
    Ok(())
}

async fn fetch_number(conn: &mut Conn<'_>, id: &str) -> Result<PhoneNumber> {
    db::query_as::<NumberRow>(&format!("{SELECT} WHERE n.id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("phone number", id))?
        .try_into()
}
