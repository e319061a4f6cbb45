//! `sleep_until`: the poller's own timers. They never fire early, fire in deadline order, end
//! the driver's nap instead of waiting it out (which a glommio timer cannot: it fires only
//! after the nap), and work on a thread without a poller too.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::on_executor;
use glommio::LocalExecutorBuilder;
use ringway_net::{sleep_until, Poller};

#[test]
fn sleepers_wake_in_deadline_order_and_never_early() {
    on_executor(0, || async {
        let start = Instant::now();
        let woke = Rc::new(RefCell::new(Vec::new()));
        let sleepers: Vec<_> = [3u64, 1, 2]
            .into_iter()
            .map(|n| {
                let woke = woke.clone();
                glommio::spawn_local(async move {
                    let deadline = start + Duration::from_millis(5 * n);
                    sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline, "sleeper {n} woke early");
                    woke.borrow_mut().push(n);
                })
            })
            .collect();
        for sleeper in sleepers {
            sleeper.await;
        }
        assert_eq!(*woke.borrow(), [1, 2, 3]);
    });
}

#[test]
fn a_timer_shorter_than_a_nap_ends_the_nap() {
    // With no sockets at all the thread naps at once (0 rounds); a sleep of 200 µs must not
    // wait out a 1 ms nap and then a glommio sleep, which would count a park per sleep.
    on_executor(0, || async {
        let parks_before = Poller::parks();
        for _ in 0..20 {
            sleep_until(Instant::now() + Duration::from_micros(200)).await;
        }
        let parks = Poller::parks() - parks_before;
        assert!(
            parks <= 2,
            "{parks} of 20 sleeps went through a glommio sleep"
        );
    });
}

#[test]
fn a_timer_longer_than_a_nap_wakes_a_parked_thread() {
    on_executor(0, || async {
        let parks_before = Poller::parks();
        let deadline = Instant::now() + Duration::from_millis(30);
        sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        assert!(
            Poller::parks() > parks_before,
            "the thread never slept in glommio"
        );
    });
}

#[test]
fn without_a_poller_it_is_a_glommio_timer() {
    LocalExecutorBuilder::default()
        .spawn(|| async {
            let deadline = Instant::now() + Duration::from_millis(5);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        })
        .unwrap()
        .join()
        .unwrap();
}
