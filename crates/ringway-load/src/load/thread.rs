//! One load thread: open its share of the connections, wait for the common
//! start, drive the connections until the budget or the deadline ends the
//! run, hand back its counters and histogram.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use glommio::timer::Timer;
use hdrhistogram::Histogram;
use std::future::Future;

use super::client::{Client, Pacing, ThreadShared};
use super::counters::{ProgressSlot, Recorder, Totals};
use super::target::Target;
use super::tls::ClientTls;

/// Period of the timer kept pending while a thread waits for its tasks.
const WATCHDOG_TICK: Duration = Duration::from_millis(10);

/// Start line shared by the controller and every load thread.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<Option<bool>>,
    cv: Condvar,
}

impl Gate {
    /// Releases the waiting threads: `go` false tells them to give up.
    pub(crate) fn open(&self, go: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = Some(go);
        self.cv.notify_all();
    }

    /// Blocks until [`Gate::open`]; returns its `go`.
    fn wait(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(go) = *s {
                return go;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// What one thread is to do.
#[derive(Debug, Clone)]
pub(crate) struct ThreadPlan {
    pub connections: usize,
    /// Global index of this thread's first connection (open-loop stagger).
    pub first_conn: usize,
    pub total_conns: usize,
    /// Requests this thread may start, if limited.
    pub budget: Option<u64>,
    pub duration: Option<Duration>,
    /// Total open-loop rate over all threads.
    pub rate: Option<f64>,
    pub timeout: Duration,
    pub close: bool,
    /// `https://`: this thread's TLS client (its own session cache).
    pub tls: Option<ClientTls>,
}

/// What one thread measured.
pub(crate) struct ThreadResult {
    pub totals: Totals,
    pub hist: Histogram<u64>,
    pub started: Instant,
    pub finished: Instant,
}

pub(crate) async fn run_thread(
    plan: ThreadPlan,
    target: Arc<Target>,
    progress: Arc<ProgressSlot>,
    gate: Arc<Gate>,
    ready: mpsc::Sender<()>,
) -> anyhow::Result<ThreadResult> {
    let shared = Rc::new(ThreadShared {
        target,
        timeout: plan.timeout,
        close: plan.close,
        tls: plan.tls.clone(),
        recorder: Recorder::new(progress)?,
        budget: Cell::new(plan.budget),
        deadline: Cell::new(None),
        stopping: Cell::new(false),
        live: Default::default(),
    });
    let mut clients: Vec<Client> = (0..plan.connections)
        .map(|i| Client::new(shared.clone(), i))
        .collect();
    if !plan.close {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                ringway_net::spawn(async move {
                    c.preconnect().await;
                    c
                })
            })
            .collect();
        clients = Vec::with_capacity(tasks.len());
        let connect_all = async {
            for t in tasks {
                clients.push(t.await);
            }
        };
        watched(connect_all).await;
    }
    let _ = ready.send(());
    let go = gate.wait();
    let started = Instant::now();
    if !go {
        return finish(&shared, started, started);
    }
    if let Some(d) = plan.duration {
        shared.deadline.set(started.checked_add(d));
    }

    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let pacing = pacing(&plan, plan.first_conn + i, started);
            ringway_net::spawn(c.run(pacing))
        })
        .collect();
    let all = watched(async {
        for t in tasks {
            t.await;
        }
    });
    futures_lite::pin!(all);
    let Some(deadline) = shared.deadline.get() else {
        all.await;
        return finish(&shared, started, Instant::now());
    };
    let stop = async {
        Timer::new(deadline.saturating_duration_since(Instant::now())).await;
        false
    };
    let completed = futures_lite::future::or(
        async {
            (&mut all).await;
            true
        },
        stop,
    )
    .await;
    let finished = Instant::now();
    if !completed {
        // Requests still in flight at the deadline are cut off, neither
        // counted nor timed; the tasks then end and close their sockets.
        shared.cut_off();
        let give_up = async {
            Timer::new(plan.timeout).await;
        };
        futures_lite::future::or(all, give_up).await;
    }
    finish(&shared, started, finished)
}

/// Runs `fut` with a timer always pending next to it.
///
/// glommio 0.9 can park its thread while a task woken from inside the
/// executor (a finished connection task waking the task that awaits it) is
/// still queued, and then sleeps until some I/O or timer fires. With no
/// I/O left that sleep would never end; the ticking timer bounds it.
async fn watched<T>(fut: impl Future<Output = T>) -> T {
    let tick = async {
        let mut timer = Timer::new(WATCHDOG_TICK);
        loop {
            (&mut timer).await;
            timer.reset(WATCHDOG_TICK);
        }
    };
    futures_lite::future::or(fut, tick).await
}

fn pacing(plan: &ThreadPlan, global_index: usize, started: Instant) -> Pacing {
    let Some(rate) = plan.rate else {
        return Pacing::Closed;
    };
    let per_conn = rate / plan.total_conns.max(1) as f64;
    let interval = Duration::from_secs_f64((1.0 / per_conn).min(1e9));
    // Stagger the connections evenly over one interval.
    let offset = interval.mul_f64(global_index as f64 / plan.total_conns.max(1) as f64);
    Pacing::Open {
        first: started.checked_add(offset).unwrap_or(started),
        interval,
    }
}

fn finish(
    shared: &ThreadShared,
    started: Instant,
    finished: Instant,
) -> anyhow::Result<ThreadResult> {
    Ok(ThreadResult {
        totals: shared.recorder.totals(),
        hist: shared.recorder.take_histogram()?,
        started,
        finished,
    })
}
