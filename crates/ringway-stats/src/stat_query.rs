//! `show stat`'s arguments, as HAProxy 2.6 reads them: `show stat [{<iid>|<proxy>} <type>
//! <sid>] [typed|json] [up] [no-maint]`. Owns the parsing and the row filter; the rows come
//! from `stat_csv`, the forms from `stat_csv` (CSV) and `typed`.

use std::sync::Arc;

use crate::counters::ShardCounters;
use crate::layout::Layout;
use crate::stat_csv::{render_stat_csv, stat_rows, StatRow};
use crate::totals::totals;
use crate::typed::{render_stat_json, render_stat_typed, Format};

/// HAProxy's reply when the `<iid>` of the filter names no proxy.
pub const NO_SUCH_PROXY: &str = "No such proxy.\n";

/// A parsed `show stat` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatQuery {
    pub format: Format,
    pub filter: Option<StatFilter>,
    /// `up`: leave out servers that are DOWN or in maintenance.
    pub hide_down: bool,
    /// `no-maint`: leave out servers in maintenance.
    pub hide_maint: bool,
}

/// `<iid> <type> <sid>`: a proxy id or -1 for all; a bit mask of object types (1 frontends,
/// 2 backends, 4 servers; -1 all); a server id or -1 for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFilter {
    pub iid: i64,
    pub types: i64,
    pub sid: i64,
}

/// C's `atoi`, which HAProxy uses on the filter: the leading integer, 0 when there is none.
fn atoi(text: &str) -> i64 {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    sign * digits[..end].parse::<i64>().unwrap_or(0)
}

impl StatQuery {
    /// Reads the words after `show stat`. A filter takes the first three words when there are
    /// three (HAProxy's order); the form may also come before it (`show stat typed 3 4 1`,
    /// the contract's order, which HAProxy itself refuses). The filter's proxy may be named or
    /// numbered. Unknown words are ignored, as HAProxy does.
    pub fn parse(args: &[&str], layout: &Layout) -> Result<StatQuery, String> {
        let mut query = StatQuery::default();
        let mut rest = args;
        while let [form @ ("typed" | "json"), tail @ ..] = rest {
            query.format = if *form == "typed" {
                Format::Typed
            } else {
                Format::Json
            };
            rest = tail;
        }
        if let [proxy, types, sid, tail @ ..] = rest {
            let named = layout
                .frontends
                .iter()
                .map(|f| (&f.name, f.iid))
                .chain(layout.backends.iter().map(|b| (&b.name, b.iid)))
                .find(|(name, _)| name.as_str() == *proxy)
                .map(|(_, iid)| i64::from(iid));
            let iid = named.unwrap_or_else(|| atoi(proxy));
            if iid == 0 {
                return Err(NO_SUCH_PROXY.to_string());
            }
            query.filter = Some(StatFilter {
                iid,
                types: atoi(types),
                sid: atoi(sid),
            });
            rest = tail;
        }
        for word in rest {
            match *word {
                "typed" => query.format = Format::Typed,
                "json" => query.format = Format::Json,
                "up" => query.hide_down = true,
                "no-maint" => query.hide_maint = true,
                _ => {}
            }
        }
        Ok(query)
    }

    fn keeps(&self, row: &StatRow) -> bool {
        let number = |name: &str| row.cell(name).parse::<i64>().unwrap_or(-2);
        let object = number("type");
        let status = row.cell("status");
        if object == 2 {
            if self.hide_maint && status.starts_with("MAINT") {
                return false;
            }
            if self.hide_down && (status.starts_with("DOWN") || status.starts_with("MAINT")) {
                return false;
            }
        }
        let Some(filter) = self.filter else {
            return true;
        };
        (filter.iid == -1 || filter.iid == number("iid"))
            && (0..3).contains(&object)
            && filter.types & (1 << object) != 0
            && (object != 2 || filter.sid == -1 || filter.sid == number("sid"))
    }

    /// Renders the rows this query keeps, in its form.
    pub fn render(&self, rows: Vec<StatRow>) -> String {
        let rows: Vec<StatRow> = rows.into_iter().filter(|row| self.keeps(row)).collect();
        match self.format {
            Format::Plain => render_stat_csv(&rows),
            Format::Typed => render_stat_typed(&rows),
            Format::Json => render_stat_json(&rows),
        }
    }
}

/// `show stat ...`: the reply, or HAProxy's error for a filter naming no proxy.
pub fn render_show_stat_args(
    layout: &Layout,
    shards: &[Arc<ShardCounters>],
    args: &[&str],
) -> String {
    match StatQuery::parse(args, layout) {
        Ok(query) => query.render(stat_rows(layout, &totals(layout, shards))),
        Err(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::ServerState;
    use crate::testutil::{all_shards, two_server_layout};

    /// fe (iid 2), be (iid 3) with s1 and s2.
    fn layout() -> Layout {
        two_server_layout()
    }

    /// `pxname/svname` of each CSV row.
    fn names(csv: &str) -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|line| line.split(',').take(2).collect::<Vec<_>>().join("/"))
            .collect()
    }

    fn show(layout: &Layout, args: &[&str]) -> String {
        render_show_stat_args(layout, &all_shards(layout), args)
    }

    #[test]
    fn the_filter_picks_proxies_types_and_servers_as_haproxy() {
        let layout = layout();
        assert_eq!(
            names(&show(&layout, &[])),
            ["fe/FRONTEND", "be/s1", "be/s2", "be/BACKEND"]
        );
        assert_eq!(names(&show(&layout, &["3", "4", "-1"])), ["be/s1", "be/s2"]);
        assert_eq!(names(&show(&layout, &["be", "4", "2"])), ["be/s2"]);
        assert_eq!(
            names(&show(&layout, &["-1", "3", "-1"])),
            ["fe/FRONTEND", "be/BACKEND"]
        );
        assert_eq!(names(&show(&layout, &["-1", "-1", "1"])).len(), 3);
        assert_eq!(names(&show(&layout, &["fe", "-1", "-1"])), ["fe/FRONTEND"]);
        // A proxy id that exists nowhere: the header alone, as HAProxy.
        assert_eq!(show(&layout, &["9", "-1", "-1"]).lines().count(), 1);
        assert_eq!(show(&layout, &["nope", "-1", "-1"]), NO_SUCH_PROXY);
        // One or two words are no filter: HAProxy ignores them.
        assert_eq!(names(&show(&layout, &["blah"])).len(), 4);
    }

    #[test]
    fn forms_and_hiding_words() {
        let layout = layout();
        let typed = show(&layout, &["3", "4", "1", "typed"]);
        assert!(
            typed.lines().all(|line| line.starts_with("S.3.1.")),
            "{typed}"
        );
        assert!(show(&layout, &["json"]).starts_with("[[{\"objType\":\"Frontend\""));
        // The contract's order, the form first, gives the same.
        assert_eq!(show(&layout, &["typed", "3", "4", "1"]), typed);
        assert_eq!(show(&layout, &["json", "nope", "-1", "-1"]), NO_SUCH_PROXY);
        layout.backends[0].servers[1].state.set(ServerState::Maint);
        assert_eq!(
            names(&show(&layout, &["no-maint"])),
            ["fe/FRONTEND", "be/s1", "be/BACKEND"]
        );
        assert_eq!(
            names(&show(&layout, &["up"])).len(),
            3,
            "up hides MAINT too"
        );
        layout.backends[0].servers[1].state.set(ServerState::Drain);
        assert_eq!(names(&show(&layout, &["up"])).len(), 4, "DRAIN is up");
    }

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!(atoi("-1"), -1);
        assert_eq!(atoi("3abc"), 3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
    }
}
