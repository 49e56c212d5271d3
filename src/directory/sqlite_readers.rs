//! Read connections for the SQLite store: a small pool, so that reads never wait for the writer
//! (WAL lets readers and one writer work at once), and read scopes, so that all the reads of one
//! decision share one read transaction — one consistent state of the directory, and one pair of
//! lock calls instead of one per query (each query outside a transaction is its own
//! transaction, with its own `fcntl` locks; a decision makes five to eight of them).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::read_memo::Memo;
use super::store::{StoreError, StoreResult};

/// How many read connections a store keeps. Reads are short (indexed lookups), so a few serve
/// the verification threads, the probes and the LDAP front door; a reader beyond them waits.
const READERS: usize = 4;

static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The read connection of the scope this thread is in, if any, with its pool's id (a
    /// thread could use two stores, as tests do).
    static SCOPE: RefCell<Option<(u64, Reader)>> = const { RefCell::new(None) };
}

/// A read connection and what it has read in scopes (see `read_memo`).
struct Reader {
    conn: Connection,
    /// Borrowed for one read at a time; a read nested in another's closure goes without.
    /// Boxed: a reader moves in and out of the pool and the scope on every decision.
    memo: RefCell<Box<Memo>>,
}

pub(crate) struct Readers {
    id: u64,
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    opened: Mutex<usize>,
    returned: Condvar,
}

fn open_reader(path: &Path) -> StoreResult<Reader> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Db(format!("cannot open store {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    // A reader never writes: a bug that tried would fail loudly instead of racing the writer.
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(Reader {
        conn,
        memo: RefCell::new(Box::default()),
    })
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Readers {
        Readers {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            opened: Mutex::new(0),
            returned: Condvar::new(),
        }
    }

    /// An idle reader, a new one while fewer than `READERS` exist, or the next one returned.
    fn take(&self) -> StoreResult<Reader> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = idle.pop() {
                return Ok(c);
            }
            {
                let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
                if *opened < READERS {
                    *opened += 1;
                    drop(opened);
                    drop(idle);
                    return open_reader(&self.path).inspect_err(|_| {
                        *self.opened.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                    });
                }
            }
            idle = self.returned.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, reader: Reader) {
        // A reader left inside a transaction (a panic mid-scope) would pin an old state.
        if !reader.conn.is_autocommit() {
            let _ = reader.conn.execute_batch("ROLLBACK");
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reader);
        self.returned.notify_one();
    }

    /// Runs `f` on this thread's scoped reader when it is in a scope of this pool, else on a
    /// pooled reader for this one call.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.read_memo(|conn, _| f(conn))
    }

    /// As `read`, with the scope's memo when in a scope (`None` outside one: a read outside a
    /// scope has no snapshot whose version the memo could be checked against).
    pub(crate) fn read_memo<T>(
        &self,
        f: impl FnOnce(&Connection, Option<&mut Memo>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut f = Some(f);
        let scoped = SCOPE.with(|s| match &*s.borrow() {
            Some((id, r)) if *id == self.id => f.take().map(|f| match r.memo.try_borrow_mut() {
                Ok(mut memo) => f(&r.conn, Some(&mut memo)),
                Err(_) => f(&r.conn, None),
            }),
            _ => None,
        });
        if let Some(r) = scoped {
            return r;
        }
        let reader = self.take()?;
        let r = match f.take() {
            Some(f) => f(&reader.conn, None),
            None => Err(StoreError::Db("reader scope misuse".into())),
        };
        self.give_back(reader);
        r
    }

    /// Answers given from the memos of the idle readers so far.
    #[cfg(test)]
    pub(crate) fn memo_hits(&self) -> u64 {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.iter().map(|r| r.memo.borrow().hits()).sum()
    }

    /// Runs `f` with every `read` of this thread inside one read transaction. Nested scopes
    /// join the outer one.
    pub(crate) fn scope(&self, f: &mut dyn FnMut()) -> StoreResult<()> {
        let nested = SCOPE.with(|s| s.borrow().is_some());
        if nested {
            f();
            return Ok(());
        }
        let mut reader = self.take()?;
        // Prepared once per connection: parsing BEGIN and COMMIT showed in warm-path profiles.
        // The data version is read inside the transaction, so it is the version of the
        // snapshot every read of the scope sees (see `read_memo`).
        let begun = reader
            .conn
            .prepare_cached("BEGIN DEFERRED")
            .and_then(|mut st| st.execute([]))
            .and_then(|_| {
                reader
                    .conn
                    .prepare_cached("PRAGMA data_version")
                    .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
            });
        match begun {
            Ok(version) => reader.memo.get_mut().observe(version),
            Err(e) => {
                reader.memo.get_mut().forget();
                self.give_back(reader);
                return Err(e.into());
            }
        }
        SCOPE.with(|s| *s.borrow_mut() = Some((self.id, reader)));
        // Put the reader back even if `f` panics, so the pool never shrinks.
        struct Restore<'a>(&'a Readers);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                if let Some((_, reader)) = SCOPE.with(|s| s.borrow_mut().take()) {
                    let _ = reader
                        .conn
                        .prepare_cached("COMMIT")
                        .and_then(|mut st| st.execute([]));
                    self.0.give_back(reader);
                }
            }
        }
        let _restore = Restore(self);
        f();
        Ok(())
    }
}
