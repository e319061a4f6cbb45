//! Cross-shard takeover on two shards: clients arrive one after another on either shard (the
//! kernel spreads them over the SO_REUSEPORT listeners); an idle server connection moves to
//! the shard that needs it only when the server-wide idle count reaches `pool_low_conn`.

mod common;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;

fn two_shards(origin: SocketAddr, pool_low_conn: u32) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\npool_low_conn = {pool_low_conn}\n"
    ))
}

/// `idle_per_thr` values of `show servers conn`.
fn idle_per_shard(proxy: &Proxy) -> Vec<u64> {
    let reply = proxy.command("show servers conn app");
    let fields: Vec<u64> = reply
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .skip(13)
        .map(|value| value.parse().unwrap())
        .collect();
    fields
}

/// Sends 40 requests, each on a new client connection; returns how many requests each
/// shard accepted.
fn forty_clients(proxy: &Proxy) -> Vec<u64> {
    let addr = frontend_addr(proxy);
    for _ in 0..40 {
        assert_eq!(get(addr, "/").status, 200);
    }
    activity(proxy, "accepted")
}

#[test]
fn pool_low_conn_0_one_connection_moves_between_shards() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), 0);
    let accepted = forty_clients(&proxy);
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    let stats = origin.stats();
    assert_eq!(
        stats.conns.len(),
        1,
        "one server connection: {:?}",
        stats.conns
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 39);
    let takeovers: u64 = activity(&proxy, "fd_takeover").iter().sum();
    assert!(takeovers > 0, "the connection was taken over");
    assert_eq!(idle_per_shard(&proxy).iter().sum::<u64>(), 1);
}

#[test]
fn pool_low_conn_2_each_shard_keeps_its_own() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), 2);
    let accepted = forty_clients(&proxy);
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    let stats = origin.stats();
    assert_eq!(
        stats.conns.len(),
        2,
        "one server connection per shard: {:?}",
        stats.conns
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 2);
    assert_eq!(
        activity(&proxy, "fd_takeover"),
        [0, 0],
        "never steal below pool_low_conn"
    );
    assert_eq!(idle_per_shard(&proxy), [1, 1]);
}

#[test]
fn taken_over_connection_keeps_working_and_the_owner_lets_go() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), 0);
    forty_clients(&proxy);
    // Keep-alive clients on both shards, many requests each, all on the one connection.
    let addr = frontend_addr(&proxy);
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
    for _ in 0..10 {
        for client in &mut clients {
            assert_eq!(client.get("/").status, 200);
        }
    }
    assert_eq!(origin.stats().conns.len(), 1);
    assert_eq!(origin.stats().requests, 120);
    drop(clients);
    // Stopping closes the pool everywhere: the origin sees its one connection close.
    proxy.stop();
    wait_until("the server connection closed", || {
        origin.open_connections() == 0
    });
}

/// A connection taken over from a shard that has gone idle, then closed by the taker, closes
/// for the server too: the owner drops its copy of the socket though it serves nothing (its
/// control tick sleeps until a doorbell; the taker rings it) and its purge timer is an hour
/// away. Each connection carries two requests (`max_reuse = 1`): the second, on the other
/// shard, takes it over and closes it.
#[test]
fn a_connection_taken_from_an_idle_shard_and_closed_closes_for_the_server() {
    let origin = origin();
    let proxy = proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\npool_low_conn = 0\n\
         max_reuse = 1\npool_purge_delay = \"1h\"\n",
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    let takeovers = || activity(&proxy, "fd_takeover").iter().sum::<u64>();
    for _ in 0..200 {
        // Both shards asleep (each shows 100 only then), the owner of the pooled one included.
        wait_until("both shards idle", || idle_pct(&proxy) == 100);
        assert_eq!(get(addr, "/").status, 200);
        if takeovers() > 0 {
            break;
        }
    }
    assert_eq!(takeovers(), 1, "a connection was taken over");
    // Every connection carried its two requests and closed: the taken one is the last.
    assert_eq!(idle_per_shard(&proxy).iter().sum::<u64>(), 0);
    wait_until("the taken connection closed at the server", || {
        origin.open_connections() == 0
    });
}
