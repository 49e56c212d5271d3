//! Read scopes and change notifications for the PostgreSQL store.
//!
//! **One state per decision.** A read scope's reads that the memo cannot answer run in one
//! `REPEATABLE READ` read-only transaction, begun at the first of them and committed when the
//! scope ends (the commit is sent without waiting for it).
//!
//! **The memo** (`read_memo`, shared with SQLite) answers the reads a warm decision repeats —
//! tenant, user, lockout state, cloud copy — without a round trip to the database, for as long
//! as nothing changed. The proof that nothing changed is a version number: every table a
//! decision reads has a statement trigger that notifies `hybridauth_changes` on commit, and
//! each node keeps one connection listening; every notification, every write this process
//! makes, and every loss of the listening connection move the version on. A scope reads the
//! version before it reads anything, so a memo filled under version V holds answers at least
//! as new as V, and any commit after the scope began moves the version past V before the next
//! scope looks. While the listener is down (the database restarting, the network cut) no memo
//! is trusted: every read goes to the database, as every decision then must. A notification
//! names its table, and the lockout tables move a second number of their own: a wrong
//! password (a lockout count, from any node) makes every node forget the lockout states it
//! remembers, not its users and tenant (`Memo::observe_parts`), so a flood of wrong passwords
//! does not turn every decision's reads into round trips.
//!
//! A scope starts by waiting for one round trip on the listening connection that began after
//! it (shared by every scope waiting at the time): PostgreSQL delivers every notification of
//! an earlier commit before it answers, so a change committed through any node before the
//! scope began — a password reset, a disable, an unlock — is seen by it. The round trip costs
//! latency, not work: under load one of them serves many decisions, and the verifier awaits it
//! before handing the decision to a thread (`Store::catch_up`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::postgres_bridge::{pg, pool_err, query_on, Bridge, Param};
use super::read_memo::Memo;
use super::store::StoreResult;

/// The channel the schema's triggers notify (see `migrations::POSTGRES`).
pub(crate) const CHANNEL: &str = "hybridauth_changes";

/// How often the listener proves its connection alive, and how long it waits before
/// reconnecting: together they bound how long a memo can be trusted after the database went
/// away, and how soon memos are used again after it came back.
const LISTENER_PING: Duration = Duration::from_millis(500);
const LISTENER_RETRY: Duration = Duration::from_millis(200);

/// The change version, and the listener's rounds (see `Changes::catch_up`).
pub(crate) struct Changes {
    version: AtomicU64,
    /// Moved alone by changes of the lockout tables (see `Memo::observe_parts`).
    lockouts: AtomicU64,
    listening: AtomicBool,
    /// The number of the newest round the listener started, and of the newest it finished.
    started: AtomicU64,
    finished: Mutex<u64>,
    finished_changed: Condvar,
    /// The same number, for async waiters (`caught_up`).
    finished_watch: tokio::sync::watch::Sender<u64>,
    /// Wakes the listener for a round.
    wanted: tokio::sync::Notify,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes {
            version: AtomicU64::new(0),
            lockouts: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            started: AtomicU64::new(0),
            finished: Mutex::new(0),
            finished_changed: Condvar::new(),
            finished_watch: tokio::sync::watch::Sender::new(0),
            wanted: tokio::sync::Notify::new(),
        }
    }
}

impl Changes {
    /// Something changed (or may have): memos filled before now are not trusted again.
    pub(crate) fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Only lockout states changed (or may have).
    pub(crate) fn bump_lockouts(&self) {
        self.lockouts.fetch_add(1, Ordering::SeqCst);
    }

    /// A notification from the trigger, which names the table that changed.
    fn notified(&self, table: &str) {
        match table {
            "ad_lockout" | "smart_lockout" => self.bump_lockouts(),
            _ => self.bump(),
        }
    }

    /// The versions a scope reads its memo under (both, read after the proof).
    fn versions(&self) -> (u64, u64) {
        let lockouts = self.lockouts.load(Ordering::SeqCst);
        (self.version.load(Ordering::SeqCst), lockouts)
    }

    /// The versions a scope starting now may trust its memo under: once every change committed
    /// before now has moved it. `None` while the listener is not connected (or does not answer
    /// in time): the scope then reads everything from the database.
    ///
    /// How: the listener's connection answers a query only after it has delivered every
    /// notification of a commit that happened before the query arrived (PostgreSQL sends them
    /// before it reports itself ready). So this waits for the end of a listener round (one
    /// empty query) that started after this call began. Concurrent scopes share rounds: one
    /// round trip serves every scope that was waiting for it.
    fn trusted(&self) -> Option<(u64, u64)> {
        let need = self.want_round()?;
        let deadline = std::time::Instant::now() + ROUND_WAIT;
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        while *finished < need {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            finished = self
                .finished_changed
                .wait_timeout(finished, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(finished);
        let v = self.versions();
        self.listening.load(Ordering::SeqCst).then_some(v)
    }

    /// Asks the listener for a round; the number of the round whose end proves every commit
    /// before now seen (the next one it will start: a round already sent may have been answered
    /// before this call's commits). `None` while the listener is not connected.
    fn want_round(&self) -> Option<u64> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let need = self.started.load(Ordering::SeqCst) + 1;
        self.wanted.notify_one();
        Some(need)
    }

    /// As `trusted`, awaited on the caller's runtime instead of holding a thread; answers the
    /// round that proved it, for `trusted_after`. No timer of its own: the listener ends a
    /// round or gives its connection up within `LISTENER_PING` of a late answer, and wakes
    /// every waiter when it does.
    pub(crate) async fn caught_up(&self) -> Option<u64> {
        let mut finished = self.finished_watch.subscribe();
        let need = self.want_round()?;
        let lost = || !self.listening.load(Ordering::SeqCst);
        let ended = finished.wait_for(|f| *f >= need || lost()).await.is_ok();
        (ended && !lost()).then_some(need)
    }

    /// The versions a scope may trust its memo under after `caught_up` answered `round`: no
    /// wait, the round has ended. `None` when the proof failed or the listener was lost since
    /// (which moved the version, so a memo filled before is flushed anyway).
    fn trusted_after(&self, round: Option<u64>) -> Option<(u64, u64)> {
        round?;
        let v = self.versions();
        self.listening.load(Ordering::SeqCst).then_some(v)
    }

    fn round_finished(&self, round: u64) {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        *finished = (*finished).max(round);
        self.finished_changed.notify_all();
        drop(finished);
        self.finished_watch.send_if_modified(|f| {
            let moved = round > *f;
            *f = (*f).max(round);
            moved
        });
    }
}

/// How long a scope waits for a listener round before it reads from the database instead.
const ROUND_WAIT: Duration = Duration::from_secs(1);

/// Keeps one connection listening for changes, for the store's life (the task ends with the
/// store's runtime).
pub(crate) fn spawn_listener(bridge: &Bridge, changes: Arc<Changes>) {
    let config = bridge.config.clone();
    bridge.handle().spawn(async move {
        loop {
            let why = listen(&config, &changes).await;
            changes.listening.store(false, Ordering::SeqCst);
            // Waiters of `caught_up` see the loss at once.
            changes.finished_watch.send_modify(|_| {});
            changes.bump();
            tracing::debug!(why = %why, "store change listener disconnected; reconnecting");
            tokio::time::sleep(LISTENER_RETRY).await;
        }
    });
}

type Messages = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<AsyncMessage, tokio_postgres::Error>> + Send>,
>;

/// Runs `query` on the listening connection while its notifications keep moving the version;
/// `Err` with why when the connection fails or the query takes longer than `LISTENER_PING`.
async fn on_listener<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(
    query: F,
    messages: &mut Messages,
    changes: &Changes,
) -> Result<(), String> {
    tokio::pin!(query);
    let timeout = tokio::time::sleep(LISTENER_PING);
    tokio::pin!(timeout);
    loop {
        tokio::select! {
            r = &mut query => return r.map_err(|e| e.to_string()),
            m = messages.next() => match m {
                Some(Ok(AsyncMessage::Notification(n))) => changes.notified(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("connection closed".into()),
            },
            _ = &mut timeout => return Err("the listening connection stopped answering".into()),
        }
    }
}

/// Listens until the connection fails; returns why. Between rounds it waits for a scope to
/// want one, or for `LISTENER_PING` to pass (a round then proves the connection alive).
async fn listen(config: &tokio_postgres::Config, changes: &Changes) -> String {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    let mut messages: Messages = Box::pin(futures::stream::poll_fn(move |cx| {
        connection.poll_message(cx)
    }));
    let statement = format!("LISTEN {CHANNEL}");
    if let Err(why) = on_listener(client.batch_execute(&statement), &mut messages, changes).await {
        return why;
    }
    changes.bump();
    changes.listening.store(true, Ordering::SeqCst);
    // One round at a time: a round that ends starts the next at once when a scope wants one,
    // so under load each round serves every decision that arrived while the one before was
    // out. (Pipelined rounds answered sooner but cost a round trip of both processes' CPU per
    // decision or two; on 2 cores that was the larger loss.)
    let mut round: Option<(u64, Round<'_>, tokio::time::Instant)> = None;
    loop {
        let late_at = round.as_ref().map(|(_, _, sent)| *sent + LISTENER_PING);
        tokio::select! {
            _ = changes.wanted.notified(), if round.is_none() => {}
            _ = tokio::time::sleep(LISTENER_PING), if round.is_none() => {}
            done = async { (&mut round.as_mut().expect("guarded").1).await }, if round.is_some() => {
                let (number, _, _) = round.take().expect("guarded");
                match done {
                    Ok(()) => changes.round_finished(number),
                    Err(e) => return e.to_string(),
                }
                continue;
            }
            // However busy the connection is otherwise: waiters of `caught_up` rely on a round
            // ending or the connection being given up.
            _ = tokio::time::sleep_until(late_at.unwrap_or_else(tokio::time::Instant::now)), if late_at.is_some() => {
                return "the listening connection stopped answering".into();
            }
            m = messages.next() => {
                match m {
                    Some(Ok(AsyncMessage::Notification(n))) => changes.notified(n.payload()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return e.to_string(),
                    None => return "connection closed".into(),
                }
                continue;
            }
        }
        let number = changes.started.fetch_add(1, Ordering::SeqCst) + 1;
        let query: Round<'_> = Box::pin(client.simple_query("").map(|r| r.map(drop)));
        round = Some((number, query, tokio::time::Instant::now()));
    }
}

type Round<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>,
>;

thread_local! {
    /// The scope this thread is in, with its store's id (a thread could use two stores).
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

struct Scope {
    store: u64,
    /// `None` when the memo is not trusted in this scope (or lent out to a read).
    memo: Option<Box<Memo>>,
    trusted: bool,
    /// The read transaction, once a read needed the database.
    tx: Option<Arc<deadpool_postgres::Object>>,
}

/// The store's scopes: memos kept between them, and the change version.
pub(crate) struct Scopes {
    id: u64,
    pub(crate) changes: Arc<Changes>,
    #[allow(clippy::vec_box)] // a memo moves in and out on every scope: boxed, it moves cheaply
    memos: Mutex<Vec<Box<Memo>>>,
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Where a read goes: the scope's transaction, or a pooled connection of its own.
pub(crate) enum Db<'a> {
    Pool(&'a Bridge),
    Scoped(&'a Bridge, &'a Scopes),
}

impl Db<'_> {
    pub(crate) fn query(&self, sql: String, params: Vec<Param>) -> StoreResult<Vec<Row>> {
        match self {
            Db::Pool(bridge) => bridge.query(sql, params),
            Db::Scoped(bridge, scopes) => {
                let tx = scopes.transaction(bridge)?;
                bridge.run(async move { query_on(&tx, &sql, &params).await })
            }
        }
    }

    pub(crate) fn opt(&self, sql: String, params: Vec<Param>) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

impl Scopes {
    pub(crate) fn new() -> Scopes {
        Scopes {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            changes: Arc::new(Changes::default()),
            memos: Mutex::new(Vec::new()),
        }
    }

    fn in_scope(&self) -> bool {
        SCOPE.with(|s| s.borrow().as_ref().is_some_and(|s| s.store == self.id))
    }

    /// Runs `f` in a scope: one read transaction for the reads the memo cannot answer. The
    /// proof that the memo may be trusted is taken now (`Changes::trusted`), or was taken ahead
    /// (`caught_up`: the round `Changes::caught_up` answered).
    pub(crate) fn scope(
        &self,
        bridge: &Bridge,
        caught_up: Option<Option<u64>>,
        f: &mut dyn FnMut(),
    ) -> StoreResult<()> {
        if self.in_scope() {
            f();
            return Ok(());
        }
        let trusted = match caught_up {
            Some(round) => self.changes.trusted_after(round),
            None => self.changes.trusted(),
        };
        let mut memo = self
            .memos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        match trusted {
            Some((v, lockouts)) => memo.observe_parts(v as i64, lockouts as i64),
            None => memo.forget(),
        }
        let outer = SCOPE.with(|s| {
            s.borrow_mut().replace(Scope {
                store: self.id,
                memo: Some(memo),
                trusted: trusted.is_some(),
                tx: None,
            })
        });
        f();
        let ended = SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), outer));
        if let Some(scope) = ended {
            if let Some(memo) = scope.memo {
                self.memos
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(memo);
            }
            if let Some(tx) = scope.tx {
                // Read-only: the commit only ends it. Not waited for; the connection goes back
                // to the pool once it is done.
                bridge.handle().spawn(async move {
                    let _ = tx.batch_execute("COMMIT").await;
                });
            }
        }
        Ok(())
    }

    /// The scope's read transaction, begun now if it was not yet.
    fn transaction(&self, bridge: &Bridge) -> StoreResult<Arc<deadpool_postgres::Object>> {
        if let Some(tx) = SCOPE.with(|s| s.borrow().as_ref().and_then(|s| s.tx.clone())) {
            return Ok(tx);
        }
        let pool = bridge.pool.clone();
        let client = bridge.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(pg)?;
            Ok(client)
        })?;
        let tx = Arc::new(client);
        SCOPE.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.tx = Some(Arc::clone(&tx));
            }
        });
        Ok(tx)
    }

    /// A read through the memo when this thread is in a trusted scope of this store
    /// (`f` gets `Some(memo)`), else straight to the database.
    pub(crate) fn read_memo<T>(
        &self,
        bridge: &Bridge,
        f: impl FnOnce(&Db<'_>, Option<&mut Memo>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if !self.in_scope() {
            return f(&Db::Pool(bridge), None);
        }
        let lent = SCOPE.with(|s| {
            s.borrow_mut()
                .as_mut()
                .filter(|s| s.trusted)
                .and_then(|s| s.memo.take())
        });
        let db = Db::Scoped(bridge, self);
        let Some(mut memo) = lent else {
            return f(&db, None);
        };
        let out = f(&db, Some(&mut memo));
        SCOPE.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.memo = Some(memo);
            }
        });
        out
    }

    /// A read that never uses the memo, in the scope's transaction when there is one.
    pub(crate) fn read<T>(
        &self,
        bridge: &Bridge,
        f: impl FnOnce(&Db<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if self.in_scope() {
            f(&Db::Scoped(bridge, self))
        } else {
            f(&Db::Pool(bridge))
        }
    }
}
