//! Reuse modes and the lookup table of haproxy-pool-semantics.md §1.3.

/// `http_reuse`: which pooled connections a request may ride.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReuseMode {
    /// Every server connection belongs to one client session.
    Never,
    /// A client's first request gets a new connection; later ones may use any idle one.
    #[default]
    Safe,
    /// A first request may use a connection that already survived a reuse (safe class).
    Aggressive,
    /// A first request may use any idle connection, safe ones first.
    Always,
}

impl ReuseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReuseMode::Never => "never",
            ReuseMode::Safe => "safe",
            ReuseMode::Aggressive => "aggressive",
            ReuseMode::Always => "always",
        }
    }
}

/// Where a request looks for an idle connection, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupPlan {
    /// Open a new connection.
    NewOnly,
    /// Idle (unsafe) class first, then safe.
    IdleThenSafe,
    /// Safe class only.
    SafeOnly,
    /// Safe class first, then idle.
    SafeThenIdle,
}

/// The §1.3 table. `not_first_request`: the request is not the first on its client connection.
pub fn lookup_plan(mode: ReuseMode, not_first_request: bool) -> LookupPlan {
    match (mode, not_first_request) {
        (ReuseMode::Never, _) => LookupPlan::NewOnly,
        (_, true) => LookupPlan::IdleThenSafe,
        (ReuseMode::Safe, false) => LookupPlan::NewOnly,
        (ReuseMode::Aggressive, false) => LookupPlan::SafeOnly,
        (ReuseMode::Always, false) => LookupPlan::SafeThenIdle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_haproxy() {
        use LookupPlan::*;
        use ReuseMode::*;
        let cases = [
            (Never, false, NewOnly),
            (Never, true, NewOnly),
            (Safe, false, NewOnly),
            (Safe, true, IdleThenSafe),
            (Aggressive, false, SafeOnly),
            (Aggressive, true, IdleThenSafe),
            (Always, false, SafeThenIdle),
            (Always, true, IdleThenSafe),
        ];
        for (mode, not_first, want) in cases {
            assert_eq!(
                lookup_plan(mode, not_first),
                want,
                "{mode:?} not_first={not_first}"
            );
        }
    }
}
