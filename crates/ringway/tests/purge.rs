//! The periodic purge end to end: after a burst of concurrent requests stops, the idle pool
//! shrinks period after period down to zero.

mod common;

use common::*;

fn idle_cur(proxy: &ringway::Proxy) -> u64 {
    let reply = proxy.command("show servers conn app");
    let fields: Vec<String> = reply
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    fields[12].parse().unwrap()
}

#[test]
fn idle_connections_are_purged_to_zero_after_a_burst() {
    let origin = origin();
    let proxy = proxy(
        "",
        &one_server("always", "pool_purge_delay = \"100ms\""),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let burst: Vec<_> = (0..5)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send_raw(b"GET /?delay=300 HTTP/1.1\r\nHost: test\r\n\r\n");
            client
        })
        .collect();
    // All five are in flight at once before any completes: five server connections.
    wait_until("five requests in flight", || {
        stat_num(&proxy, "app", "s1", "scur") == 5
    });
    for mut client in burst {
        assert_eq!(client.read_response(false).unwrap().status, 200);
    }
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 5);
    let mut peak = 0;
    wait_until("the pool purged to zero", || {
        let idle = idle_cur(&proxy);
        peak = peak.max(idle);
        idle == 0
    });
    assert!(peak > 0, "connections were pooled before the purge");
    assert_eq!(stat_num(&proxy, "app", "s1", "used_conn_cur"), 0);
    // The next request needs a new connection.
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 6);
}

#[test]
fn after_a_burst_of_50_on_two_shards_idle_shrinks_period_after_period() {
    let origin = origin();
    let proxy = proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\npool_purge_delay = \"150ms\"\n",
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send_raw(b"GET /?delay=300 HTTP/1.1\r\nHost: test\r\n\r\n");
            client
        })
        .collect();
    wait_until("fifty requests in flight", || {
        stat_num(&proxy, "app", "s1", "scur") == 50
    });
    for mut client in burst {
        assert_eq!(client.read_response(false).unwrap().status, 200);
    }
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 50);
    let mut seen = vec![idle_cur(&proxy)];
    wait_until("the pool purged to zero", || {
        let idle = idle_cur(&proxy);
        if idle != *seen.last().unwrap() {
            seen.push(idle);
        }
        idle == 0
    });
    assert!(
        seen.windows(2).all(|pair| pair[1] < pair[0]),
        "idle only shrinks: {seen:?}"
    );
    assert!(
        seen.len() >= 4,
        "it takes several periods, not one: {seen:?}"
    );
}
