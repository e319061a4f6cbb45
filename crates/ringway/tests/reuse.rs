//! HAProxy's reuse reg-tests (haproxy-pool-semantics.md §7: 1–5 and 8) end to end: clients one
//! after another through one shard to an origin that reports its per-connection id and the
//! request number on that connection.

mod common;

use common::*;

/// (origin connection id, request number on it) for each request of one client connection.
fn client(addr: std::net::SocketAddr, requests: usize, path: &str) -> Vec<(u64, u64)> {
    let mut client = Client::connect(addr);
    (0..requests)
        .map(|_| {
            let response = client.get(path);
            assert_eq!(response.status, 200);
            (response.origin_conn(), response.origin_conn_req())
        })
        .collect()
}

#[test]
fn never_keeps_one_connection_per_session() {
    let origin = origin();
    let proxy = proxy("", &one_server("never", "pool_max_conn = 1"), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut seen_ids = Vec::new();
    for _ in 0..3 {
        let requests = client(addr, 3, "/");
        let id = requests[0].0;
        assert_eq!(
            requests,
            [(id, 1), (id, 2), (id, 3)],
            "reuse only within the session"
        );
        assert!(!seen_ids.contains(&id), "a new connection per client");
        seen_ids.push(id);
    }
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 3);
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 6);
}

#[test]
fn safe_first_request_gets_its_own_connection() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", "pool_max_conn = 1"), origin.addr());
    let addr = frontend_addr(&proxy);
    let c1 = client(addr, 3, "/");
    let a = c1[0].0;
    assert_eq!(c1, [(a, 1), (a, 2), (a, 3)]);
    let c2 = client(addr, 3, "/");
    assert_ne!(c2[0].0, a);
    assert_eq!(c2[0].1, 1, "a first request never rides the pool");
    assert_eq!(
        &c2[1..],
        [(a, 4), (a, 5)],
        "later requests use c1's pooled connection"
    );
    let c3 = client(addr, 3, "/");
    assert_eq!(c3[0].1, 1);
    assert_eq!(&c3[1..], [(a, 6), (a, 7)]);
}

#[test]
fn aggressive_first_request_needs_a_safe_connection() {
    let origin = origin();
    let proxy = proxy("", &one_server("aggressive", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let c1 = client(addr, 1, "/");
    let a = c1[0].0;
    let c2 = client(addr, 2, "/");
    assert_eq!(c2[0].1, 1, "no safe connection yet: a new one");
    assert_ne!(c2[0].0, a);
    assert_eq!(
        c2[1],
        (a, 2),
        "the second request reuses the idle one, making it safe"
    );
    let c3 = client(addr, 1, "/");
    assert_eq!(c3, [(a, 3)], "a safe connection serves a first request");
}

#[test]
fn always_first_request_rides_an_idle_connection() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let a = client(addr, 1, "/")[0].0;
    assert_eq!(client(addr, 1, "/"), [(a, 2)]);
    assert_eq!(client(addr, 1, "/"), [(a, 3)]);
}

#[test]
fn dispatch_always_shares_one_connection_across_sessions() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let c4 = client(addr, 3, "/");
    let a = c4[0].0;
    assert_eq!(c4, [(a, 1), (a, 2), (a, 3)]);
    assert_eq!(client(addr, 3, "/"), [(a, 4), (a, 5), (a, 6)]);
    assert_eq!(client(addr, 3, "/"), [(a, 7), (a, 8), (a, 9)]);
}

#[test]
fn forty_clients_always_one_connection_never_forty() {
    for (mode, expected_conns) in [("always", 1u64), ("never", 40)] {
        let origin = origin();
        let proxy = proxy("", &one_server(mode, ""), origin.addr());
        let addr = frontend_addr(&proxy);
        for _ in 0..40 {
            assert_eq!(get(addr, "/").status, 200);
        }
        let stats = origin.stats();
        assert_eq!(stats.requests, 40, "{mode}");
        assert_eq!(
            stats.conns.len() as u64,
            expected_conns,
            "{mode}: origin connections"
        );
        assert_eq!(
            stat_num(&proxy, "app", "s1", "connect"),
            expected_conns,
            "{mode}: connect"
        );
        assert_eq!(
            stat_num(&proxy, "app", "s1", "reuse"),
            40 - expected_conns,
            "{mode}: reuse"
        );
        assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 40, "{mode}: stot");
        assert_eq!(
            stat_num(&proxy, "web", "FRONTEND", "conn_tot"),
            40,
            "{mode}: client connections"
        );
        if mode == "always" {
            assert_eq!(
                stats.conns.values().copied().collect::<Vec<_>>(),
                [40],
                "one connection used 40 times"
            );
        }
    }
}

#[test]
fn ntlm_response_makes_the_connection_private() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut c1 = Client::connect(addr);
    let first = c1.get("/");
    let shared_id = first.origin_conn();
    assert_eq!(c1.get("/").origin_conn(), shared_id);
    let challenge = c1.get("/?status=401&www-auth=NTLM");
    assert_eq!(challenge.status, 401);
    assert_eq!(challenge.origin_conn(), shared_id);
    let again = c1.get("/?status=401&www-auth=NTLM");
    assert_eq!(again.status, 401);
    assert_eq!(
        again.origin_conn(),
        shared_id,
        "the private connection stays with its session"
    );
    // Another client must not get the connection c1 authenticated.
    let other = get(addr, "/");
    assert_ne!(other.origin_conn(), shared_id);
    assert_eq!(other.origin_conn_req(), 1);
    assert_eq!(c1.get("/").origin_conn(), shared_id, "session → session");
}

#[test]
fn max_reuse_closes_a_connection_after_its_quota() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", "max_reuse = 2"), origin.addr());
    let addr = frontend_addr(&proxy);
    let ids: Vec<(u64, u64)> = (0..4).map(|_| client(addr, 1, "/")[0]).collect();
    let a = ids[0].0;
    assert_eq!(
        &ids[..3],
        [(a, 1), (a, 2), (a, 3)],
        "max_reuse 2: three requests in all"
    );
    assert_ne!(ids[3].0, a);
    assert_eq!(ids[3].1, 1);
}

#[test]
fn show_servers_conn_reports_the_idle_connection() {
    let origin = origin();
    let proxy = proxy("", &one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    get(addr, "/");
    get(addr, "/");
    // The client has its response just before the proxy puts the connection back in the pool.
    wait_until("the connection is idle", || {
        stat_num(&proxy, "app", "s1", "used_conn_cur") == 0
    });
    let reply = proxy.command("show servers conn app");
    let line = reply.lines().nth(1).expect("a server line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    // bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]
    assert_eq!(fields[0], "app/s1");
    assert_eq!(fields[6], "0", "used_cur");
    assert_eq!(
        fields[10], "1",
        "safe_nb: the connection carried two requests"
    );
    assert_eq!(fields[12], "1", "idle_cur");
    assert_eq!(fields[13], "1", "idle_per_thr[1]");
}
