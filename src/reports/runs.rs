//! The outages and batches as `absage outage list` and `absage outage show` read them.

use crate::ctx::Ctx;
use crate::store::Conn;
use crate::store::notifications::{self, QueueCount};
use crate::store::outages::{self, OutageRow};
use anyhow::Context;
use serde::Serialize;

/// An outage or batch with its notifications counted per channel and state.
#[derive(Debug, Serialize)]
pub struct OutageQueue {
    pub outage: OutageRow,
    pub queue: Vec<QueueCount>,
}

/// An outage or batch, or an error naming the id.
pub(super) async fn find(conn: &mut Conn, id: i64) -> anyhow::Result<OutageRow> {
    outages::get(conn, id)
        .await?
        .with_context(|| format!("there is no outage or batch {id}"))
}

/// An outage or batch, or an error naming the id.
pub async fn outage(ctx: &Ctx, id: i64) -> anyhow::Result<OutageRow> {
    find(&mut *ctx.store.conn().await?, id).await
}

/// Every outage and batch of every tenant, newest first.
pub async fn outage_list(ctx: &Ctx) -> anyhow::Result<Vec<OutageRow>> {
    let mut conn = ctx.store.conn().await?;
    Ok(outages::list(&mut conn, None).await?)
}

/// An outage or batch with the state of its notifications.
pub async fn outage_queue(ctx: &Ctx, id: i64) -> anyhow::Result<OutageQueue> {
    let mut conn = ctx.store.conn().await?;
    let outage = find(&mut conn, id).await?;
    let queue = notifications::counts(&mut conn, Some(id)).await?;
    Ok(OutageQueue { outage, queue })
}
