//! `Doorbell`: another thread wakes an executor that waits on it through its poller; rings
//! made before the wait are kept, and one wait takes them all.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{on_executor, DEADLINE};
use futures_lite::future;
use ringway_net::Doorbell;

/// Whether `rung` returned before `limit` passed.
async fn rang_within(listener: &ringway_net::DoorbellListener, limit: Duration) -> bool {
    future::or(
        async {
            listener.rung().await;
            true
        },
        async {
            glommio::timer::sleep(limit).await;
            false
        },
    )
    .await
}

#[test]
fn a_ring_from_another_thread_wakes_the_waiting_executor() {
    let doorbell = Doorbell::new().unwrap();
    let waiting = Arc::new(AtomicBool::new(false));
    let ringer = {
        let (doorbell, waiting) = (doorbell.clone(), waiting.clone());
        thread::spawn(move || {
            while !waiting.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            doorbell.ring();
        })
    };
    on_executor(0, move || async move {
        let listener = doorbell.listen().unwrap();
        waiting.store(true, Ordering::Release);
        assert!(
            rang_within(&listener, DEADLINE).await,
            "the ring never came"
        );
    });
    ringer.join().unwrap();
}

#[test]
fn rings_before_the_wait_are_kept_and_taken_together() {
    let doorbell = Doorbell::new().unwrap();
    on_executor(0, move || async move {
        let listener = doorbell.listen().unwrap();
        for _ in 0..3 {
            doorbell.ring();
        }
        assert!(rang_within(&listener, DEADLINE).await);
        assert!(
            !rang_within(&listener, Duration::from_millis(30)).await,
            "three rings woke two waits"
        );
        doorbell.ring();
        assert!(rang_within(&listener, DEADLINE).await);
    });
}
