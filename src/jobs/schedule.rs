//! Scheduled imports: each source with a cron `schedule` is imported when it fires, read in
//! its tenant's time zone, and once at start when it has never been imported successfully.

use crate::ctx::Ctx;
use crate::import::SourceSettings;
use crate::store::imports;
use chrono::{DateTime, Utc};
use std::str::FromStr;
use tokio_util::sync::CancellationToken;

/// The sources of `ctx` that have a schedule, with it.
pub fn scheduled(ctx: &Ctx) -> Vec<Scheduled<'_>> {
    ctx.settings
        .sources
        .iter()
        .filter_map(|s| {
            let expr = s.schedule.as_deref()?;
            let tz = ctx.settings.tenant(&s.tenant)?.time_zone;
            cron::Schedule::from_str(expr).ok().map(|c| (s, c, tz))
        })
        .collect()
}

/// One pass: imports the sources that are `due`, one after the other, until `shutdown`.
pub async fn step(
    ctx: &Ctx,
    instance: &str,
    due: &[&SourceSettings],
    shutdown: &CancellationToken,
) {
    for source in due {
        if shutdown.is_cancelled() {
            return;
        }
        super::imports::import_logged(ctx, instance, source, "schedule").await;
    }
}

/// The scheduled sources that were never imported successfully (imported at start).
async fn never_imported<'a>(ctx: &Ctx, scheduled: &[Scheduled<'a>]) -> Vec<&'a SourceSettings> {
    let mut never = Vec::new();
    for (source, _, _) in scheduled {
        let Ok(mut conn) = ctx.store.conn().await else {
            continue;
        };
        let last = imports::last_applied(&mut conn, &source.tenant, &source.name).await;
        if !matches!(last, Ok(Some(_))) {
            never.push(*source);
        }
    }
    never
}

/// Runs [`step`] whenever a schedule fires, until `shutdown`.
pub async fn run(ctx: Ctx, instance: String, shutdown: CancellationToken) {
    let scheduled = scheduled(&ctx);
    if scheduled.is_empty() {
        return;
    }
    let never = never_imported(&ctx, &scheduled).await;
    step(&ctx, &instance, &never, &shutdown).await;
    loop {
        let now = ctx.now();
        let Some((when, due)) = next_due(&scheduled, now) else {
            return;
        };
        if !super::pause((when - now).to_std().unwrap_or_default(), &shutdown).await {
            return;
        }
        step(&ctx, &instance, &due, &shutdown).await;
    }
}

/// A source with its cron schedule, read in its tenant's time zone ("0 0 6 * * *" is 06:00 local).
pub type Scheduled<'a> = (&'a SourceSettings, cron::Schedule, chrono_tz::Tz);

/// The next time any schedule fires after `now`, and the sources due then.
pub fn next_due<'a>(
    scheduled: &[Scheduled<'a>],
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Vec<&'a SourceSettings>)> {
    let times: Vec<(DateTime<Utc>, &SourceSettings)> = scheduled
        .iter()
        .filter_map(|(s, c, tz)| {
            let next = c.after(&now.with_timezone(tz)).next()?;
            Some((next.with_timezone(&Utc), *s))
        })
        .collect();
    let first = times.iter().map(|(t, _)| *t).min()?;
    Some((
        first,
        times
            .into_iter()
            .filter(|(t, _)| *t == first)
            .map(|(_, s)| s)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn source(name: &str) -> SourceSettings {
        toml::from_str(&format!(
            "name = \"{name}\"\ntenant = \"t\"\nkind = \"csv\"\npath = \"x.csv\"\n[fields]\nkey = \"k\"\ndate = \"d\"\nservice = \"s\"\nname = \"n\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn schedules_are_read_in_the_tenants_time_zone() {
        let a = source("a");
        let six_am = cron::Schedule::from_str("0 0 6 * * *").unwrap();
        let scheduled = vec![(&a, six_am, chrono_tz::Europe::Berlin)];
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 0, 0, 0).unwrap();
        let (when, _) = next_due(&scheduled, now).unwrap();
        assert_eq!(
            when,
            Utc.with_ymd_and_hms(2030, 1, 7, 5, 0, 0).unwrap(),
            "06:00 CET"
        );
    }

    #[test]
    fn the_next_scheduled_import_is_the_earliest_fire_time_of_any_source() {
        let (a, b) = (source("a"), source("b"));
        let every_10 = cron::Schedule::from_str("0 */10 * * * *").unwrap();
        let hourly = cron::Schedule::from_str("0 0 * * * *").unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        let scheduled = vec![(&a, every_10, berlin), (&b, hourly, berlin)];
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 8, 51, 0).unwrap();
        let (when, due) = next_due(&scheduled, now).unwrap();
        assert_eq!(when, Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap());
        assert_eq!(
            due.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let (when, due) = next_due(&scheduled, when).unwrap();
        assert_eq!(when, Utc.with_ymd_and_hms(2030, 1, 7, 9, 10, 0).unwrap());
        assert_eq!(due.len(), 1);
    }
}
