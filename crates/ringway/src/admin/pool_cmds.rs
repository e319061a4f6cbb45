//! Live pool tuning on the runtime API (admin level): `set server B/S pool_max_conn N`,
//! `pool_low_conn N`, `max_reuse N` and `pool_purge_delay DURATION`. The new value goes into the
//! server's shared pool settings (atomics every shard reads at its next decision), each shard
//! is told to bring its purge timer forward and to close idle connections over a lowered
//! `pool_max_conn`, and the change is logged. The next reload's configuration wins: a new
//! generation builds its pools from the file.
//!
//! Also `show pool advice [B[/S]]`: the shards' control ticks sample every server's pool
//! counters once a second (whichever shard is awake) into a one-minute window (`AdviceLog`), and the advice
//! (`ringway_pool::advise`) is computed from that window on demand.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ringway_config::parse_duration;
use ringway_pool::{advise, Advice, AdviceWindow, PoolLimits, PoolSample};
use ringway_stats::{html_escape, totals, CloseReason, NO_SUCH_BACKEND};

use crate::admin::control::find_server;
use crate::process::{ProcessShared, ShardCommand};

/// How far back `show pool advice` looks.
const ADVICE_WINDOW: Duration = Duration::from_secs(60);
/// How often the counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Every server's pool counters over the last `ADVICE_WINDOW`.
pub struct AdviceLog {
    state: Mutex<AdviceState>,
}

struct AdviceState {
    start: Instant,
    last: Option<Instant>,
    /// `windows[backend][server]`.
    windows: Vec<Vec<AdviceWindow>>,
}

impl AdviceLog {
    pub fn new(servers_per_backend: &[usize]) -> AdviceLog {
        let windows = servers_per_backend
            .iter()
            .map(|&count| {
                (0..count)
                    .map(|_| AdviceWindow::new(ADVICE_WINDOW))
                    .collect()
            })
            .collect();
        AdviceLog {
            state: Mutex::new(AdviceState {
                start: Instant::now(),
                last: None,
                windows,
            }),
        }
    }

    /// Records every server's counters, at most once per `SAMPLE_EVERY` unless `force`.
    fn record(&self, shared: &ProcessShared, force: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if !force && state.last.is_some_and(|last| now - last < SAMPLE_EVERY) {
            return;
        }
        state.last = Some(now);
        let at = now - state.start;
        let sums = totals(&shared.layout, &shared.counters);
        for (backend, windows) in state.windows.iter_mut().enumerate() {
            for (server, window) in windows.iter_mut().enumerate() {
                let Some(server) = sums
                    .backends
                    .get(backend)
                    .and_then(|b| b.servers.get(server))
                else {
                    continue;
                };
                let counters = &server.counters;
                window.record(
                    at,
                    PoolSample {
                        connect: counters.connect,
                        reuse: counters.reuse,
                        purged: counters.closed_for(CloseReason::Purged),
                        not_needed: counters.closed_for(CloseReason::NotNeeded),
                        pool_full: counters.closed_for(CloseReason::PoolFull),
                        fd_pressure: counters.closed_for(CloseReason::FdPressure),
                        takeovers: counters.takeovers,
                    },
                );
            }
        }
    }

    /// Starts the server's window afresh (its settings changed).
    fn clear(&self, backend: usize, server: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = state
            .windows
            .get_mut(backend)
            .and_then(|w| w.get_mut(server))
        {
            window.clear();
        }
    }

    /// A shard's control tick: a sample if a second has passed since the last one. While every
    /// shard sleeps nothing is sampled; the window then spans the quiet time, which `delta`
    /// reports with the counts.
    pub fn sample(&self, shared: &ProcessShared) {
        self.record(shared, false);
    }
}

/// The servers `target` names (`B/S`, `B` or every server), or the error to reply.
fn select(shared: &ProcessShared, target: Option<&str>) -> Result<Vec<(usize, usize)>, String> {
    let backends = &shared.layout.backends;
    let all = |backend: usize| (0..backends[backend].servers.len()).map(move |s| (backend, s));
    match target {
        Some(target) if target.contains('/') => {
            find_server(shared, target).map(|found| vec![found])
        }
        Some(name) => match backends.iter().position(|b| b.name == name) {
            Some(backend) => Ok(all(backend).collect()),
            None => Err(NO_SUCH_BACKEND.to_string()),
        },
        None => Ok((0..backends.len()).flat_map(all).collect()),
    }
}

/// The advice for each of `servers`, from the window up to now.
fn advice_for(
    shared: &ProcessShared,
    servers: &[(usize, usize)],
) -> Vec<(usize, usize, Vec<Advice>)> {
    shared.advice.record(shared, true);
    let state = shared
        .advice
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    servers
        .iter()
        .map(|&(backend, server)| {
            let pool = shared.idle[backend][server].shared();
            let (window, seen) = state.windows[backend][server].delta();
            let idle = pool.snapshot().idle_per_shard;
            (
                backend,
                server,
                advise(&seen, window, &pool.limits(), &idle),
            )
        })
        .collect()
}

/// `show pool advice [B[/S]]`: for each server (of backend B, or server B/S), one line per
/// setting: current value, suggested value and the observation behind it.
pub fn show_advice(shared: &ProcessShared, target: Option<&str>) -> String {
    let servers = match select(shared, target) {
        Ok(servers) => servers,
        Err(error) => return error,
    };
    let mut out = String::from("# bkname/svname setting current suggested observation\n");
    for (backend, server, lines) in advice_for(shared, &servers) {
        let info = &shared.layout.backends[backend];
        for line in lines {
            let _ = writeln!(
                out,
                "{}/{} {} {} {} {}",
                info.name,
                info.servers[server].name,
                line.setting,
                line.current,
                line.suggested,
                line.observation
            );
        }
    }
    out
}

/// `/stats.json`: each server's `pool_advice`, a list of `{setting, current, suggested,
/// observation}`.
pub fn add_advice_json(document: &mut serde_json::Value, shared: &ProcessShared) {
    let servers = select(shared, None).unwrap_or_default();
    for (backend, server, lines) in advice_for(shared, &servers) {
        let lines: Vec<serde_json::Value> = lines
            .into_iter()
            .map(|line| {
                serde_json::json!({
                    "setting": line.setting,
                    "current": line.current,
                    "suggested": line.suggested,
                    "observation": line.observation,
                })
            })
            .collect();
        if let Some(entry) = document["backends"][backend]["servers"].get_mut(server) {
            entry["pool_advice"] = serde_json::Value::Array(lines);
        }
    }
}

/// `/stats`: a table of the advice that suggests a change, before the page's closing note.
pub fn add_advice_html(page: &mut String, shared: &ProcessShared) {
    let servers = select(shared, None).unwrap_or_default();
    let mut table = String::from(
        "<h2>Pool advice (last minute)</h2>\n<table><tr><th>server</th><th>setting</th>\
         <th>current</th><th>suggested</th><th>observation</th></tr>\n",
    );
    let mut rows = 0;
    for (backend, server, lines) in advice_for(shared, &servers) {
        let info = &shared.layout.backends[backend];
        let name = format!("{}/{}", info.name, info.servers[server].name);
        for line in lines.iter().filter(|line| line.current != line.suggested) {
            rows += 1;
            let _ = writeln!(
                table,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&name),
                line.setting,
                html_escape(&line.current),
                html_escape(&line.suggested),
                html_escape(&line.observation)
            );
        }
    }
    if rows == 0 {
        table.push_str("<tr><td colspan=5>nothing to change</td></tr>\n");
    }
    table.push_str("</table>\n");
    let at = page.rfind("<p class=note>").unwrap_or(page.len());
    page.insert_str(at, &table);
}

/// The settings this module serves, as they follow `set server B/S`.
pub const SETTINGS: [&str; 4] = [
    "pool_max_conn",
    "pool_low_conn",
    "pool_purge_delay",
    "max_reuse",
];

/// Whether `word` names a setting of this module.
pub fn is_pool_setting(word: &str) -> bool {
    SETTINGS.contains(&word)
}

/// `set server <target> <setting> [<value>]`: empty on success, else HAProxy-style error text.
pub fn set_pool_setting(
    shared: &ProcessShared,
    target: &str,
    setting: &str,
    value: Option<&str>,
) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    let Some(value) = value else {
        return format!("Require <{setting}>.\n");
    };
    let pool = shared.idle[backend][server].shared();
    let old = pool.limits();
    let new = match with_setting(old, setting, value) {
        Ok(new) => new,
        Err(error) => return error,
    };
    pool.set_limits(new);
    shared.broadcast(ShardCommand::PoolLimitsChanged { backend, server });
    shared.advice.clear(backend, server);
    shared.log.notice(format_args!(
        "Server {target} {setting} changed from {} to {} by the runtime API (the next reload \
         restores the configuration's value).",
        shown(&old, setting),
        shown(&new, setting),
    ));
    String::new()
}

/// `limits` with `setting` set from `value`, or the error to reply.
fn with_setting(limits: PoolLimits, setting: &str, value: &str) -> Result<PoolLimits, String> {
    let mut new = limits;
    match setting {
        "pool_max_conn" => new.pool_max_conn = integer(setting, value, -1)?,
        "max_reuse" => new.max_reuse = integer(setting, value, -1)?,
        "pool_low_conn" => {
            let low = integer(setting, value, 0)?;
            new.pool_low_conn = usize::try_from(low).map_err(|_| out_of_range(setting, 0))?;
        }
        "pool_purge_delay" => {
            new.purge_delay = parse_duration(value).map_err(|error| {
                format!(
                "Invalid pool_purge_delay '{value}': {error} (a duration such as 500ms, 5s, 1m).\n"
            )
            })?
        }
        _ => return Err(format!("Unknown pool setting '{setting}'.\n")),
    }
    Ok(new)
}

/// A whole number at least `min`, parsed as HAProxy's weight parser words its errors.
fn integer(setting: &str, value: &str, min: i64) -> Result<i64, String> {
    let number: i64 = value
        .parse()
        .map_err(|_| format!("Trailing garbage in {setting} string.\n"))?;
    if number < min {
        return Err(out_of_range(setting, min));
    }
    Ok(number)
}

fn out_of_range(setting: &str, min: i64) -> String {
    match min {
        -1 => format!("{setting} can only be -1 (unlimited) or a positive number.\n"),
        _ => format!("{setting} can only be 0 or a positive number.\n"),
    }
}

/// The value of `setting` in `limits`, as the log line shows it.
fn shown(limits: &PoolLimits, setting: &str) -> String {
    match setting {
        "pool_max_conn" => limits.pool_max_conn.to_string(),
        "pool_low_conn" => limits.pool_low_conn.to_string(),
        "max_reuse" => limits.max_reuse.to_string(),
        _ => format!("{}ms", limits.purge_delay.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_setting_parses_its_value_and_leaves_the_others() {
        let base = PoolLimits::default();
        let set = |setting, value| with_setting(base, setting, value);
        assert_eq!(set("pool_max_conn", "0").unwrap().pool_max_conn, 0);
        assert_eq!(set("pool_max_conn", "-1").unwrap().pool_max_conn, -1);
        assert_eq!(set("pool_low_conn", "4").unwrap().pool_low_conn, 4);
        assert_eq!(set("max_reuse", "1").unwrap().max_reuse, 1);
        let delay = set("pool_purge_delay", "500ms").unwrap();
        assert_eq!(delay.purge_delay, Duration::from_millis(500));
        assert_eq!(delay.pool_max_conn, base.pool_max_conn);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let base = PoolLimits::default();
        let error = |setting, value| with_setting(base, setting, value).unwrap_err();
        assert_eq!(
            error("pool_max_conn", "ten"),
            "Trailing garbage in pool_max_conn string.\n"
        );
        assert_eq!(
            error("max_reuse", "-2"),
            "max_reuse can only be -1 (unlimited) or a positive number.\n"
        );
        assert_eq!(
            error("pool_low_conn", "-1"),
            "pool_low_conn can only be 0 or a positive number.\n"
        );
        assert!(error("pool_purge_delay", "5").starts_with("Invalid pool_purge_delay '5': "));
    }
}
