//! Who holds a lease: this process, named so that a process on the same machine can tell
//! whether the holder still runs. After a kill -9 the restarted daemon takes back at once what
//! the killed one had claimed — the earliest appointments of the queue — instead of leaving it
//! untouched until the lease runs out (two minutes by default, in which some of those
//! appointments may begin).

use crate::store::{Conn, leases};
use chrono::{DateTime, Utc};
use std::sync::OnceLock;

/// This process's name for its leases: `HOST-PID-RANDOM`, and where the kernel tells them,
/// `@BOOT_ID:PID_NAMESPACE` — the kernel run and the numbering the PID belongs to.
pub fn this_process() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| read_trimmed("/proc/sys/kernel/hostname"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "absage".into());
    let mut owner = format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    if let Some(place) = place() {
        owner.push('@');
        owner.push_str(place);
    }
    owner
}

/// Whether `owner` ([`this_process`]) is a process of this kernel run and PID namespace that no
/// longer runs (killed, crashed): its leases guard nothing, as no one works on what they hold.
/// `false` whenever that cannot be known: another machine or container, an owner named another
/// way, a PID that was reused (then the lease runs out as before).
pub fn is_gone(owner: &str) -> bool {
    let Some((name, at)) = owner.rsplit_once('@') else {
        return false;
    };
    if Some(at) != place() {
        return false;
    }
    let mut parts = name.rsplitn(3, '-');
    let (Some(_random), Some(pid), Some(_host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    // A zombie still has its entry: taken for running, which only waits for the lease.
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `owner` as people read it: without this machine's boot id and namespace.
pub fn shown(owner: &str) -> String {
    match place() {
        Some(place) => owner.replace(&format!("@{place}"), ""),
        None => owner.to_string(),
    }
}

/// Takes the lease of `job` for `owner` until `until` ([`leases::acquire`]), or over from a
/// holder that is gone ([`is_gone`]). Returns whether `owner` holds it now.
pub async fn take_lease(
    conn: &mut Conn,
    job: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    if leases::acquire(conn, job, owner, now, until).await? {
        return Ok(true);
    }
    let Some((holder, _)) = leases::holder(conn, job).await? else {
        return Ok(false);
    };
    if !is_gone(&holder) || !leases::take_over(conn, job, &holder, owner, until).await? {
        return Ok(false);
    }
    tracing::info!(
        job,
        holder,
        "the holder of this lease no longer runs; taken over"
    );
    Ok(true)
}

/// `BOOT_ID:PID_NAMESPACE` of this process; `None` where /proc does not tell them.
fn place() -> Option<&'static str> {
    static PLACE: OnceLock<Option<String>> = OnceLock::new();
    PLACE
        .get_or_init(|| {
            let boot = read_trimmed("/proc/sys/kernel/random/boot_id")?;
            let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
            let ns: String = ns.to_str()?.chars().filter(char::is_ascii_digit).collect();
            (!boot.is_empty() && !ns.is_empty()).then(|| format!("{boot}:{ns}"))
        })
        .as_deref()
}

fn read_trimmed(path: &str) -> Option<String> {
    Some(std::fs::read_to_string(path).ok()?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_ended_on_this_machine_is_gone_and_no_other() {
        let me = this_process();
        assert!(
            me.contains('@'),
            "this machine tells boot id and namespace: {me}"
        );
        assert!(!is_gone(&me), "this process runs");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let place = me.rsplit_once('@').unwrap().1;
        let ended = format!("some-host-name-{pid}-0badcafe@{place}");
        assert!(is_gone(&ended), "{ended}");

        let running = std::process::Command::new("sleep").arg("30").spawn();
        let mut running = running.unwrap();
        let alive = format!("host-{}-0badcafe@{place}", running.id());
        assert!(!is_gone(&alive), "{alive}");
        running.kill().unwrap();
        running.wait().unwrap();

        // Another kernel run or namespace, or an owner named without one: not known, so not gone.
        let (boot, ns) = place.split_once(':').unwrap();
        assert!(!is_gone(&format!("host-{pid}-0badcafe@x{boot}:{ns}")));
        assert!(!is_gone(&format!("host-{pid}-0badcafe@{boot}:1{ns}")));
        assert!(!is_gone(&format!("host-{pid}-0badcafe")));
        assert!(!is_gone(&format!("host-notapid-0badcafe@{place}")));
        assert!(!is_gone("cli#2df0d489"));

        // Shown without this machine's boot id and namespace, also inside a longer name.
        let schedule = format!("{me}/schedule#{me}");
        let plain = me.rsplit_once('@').unwrap().0;
        assert_eq!(shown(&schedule), format!("{plain}/schedule#{plain}"));
    }
}
