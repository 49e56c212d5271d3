//! Argon2's working memory: `hashing.max_concurrent` buffers, made once and lent to one
//! verification at a time. The threads that run decisions outnumber the hashing slots (a
//! decision gives its slot back when its Argon2 run ends, then writes to the store), so the
//! memory bound is kept here: Argon2 never runs more than `max_concurrent` times at once, in
//! `max_concurrent` × its memory, whatever the threads do.
//!
//! A buffer is kept between verifications: allocating 19 MiB afresh for every one costs page
//! faults, and lets the allocator scatter such blocks over many arenas under load.

use std::sync::{Condvar, Mutex};

use argon2::Block;

pub struct Argon2Memory {
    free: Mutex<Vec<Vec<Block>>>,
    returned: Condvar,
}

impl Argon2Memory {
    /// `buffers` buffers (at least one), empty until first lent.
    pub fn new(buffers: usize) -> Argon2Memory {
        Argon2Memory {
            free: Mutex::new((0..buffers.max(1)).map(|_| Vec::new()).collect()),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on `blocks` blocks of a buffer, waiting (blocking) until one is free. The
    /// buffer goes back to the set when `f` returns or panics.
    pub fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let mut lent = Lent {
            memory: self,
            buffer: self.take(),
        };
        if lent.buffer.len() < blocks {
            lent.buffer.resize(blocks, Block::default());
        }
        f(&mut lent.buffer[..blocks])
    }

    fn take(&self) -> Vec<Block> {
        // A poisoned lock only means a panic elsewhere while it was held: the set is intact.
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(buffer) = free.pop() {
                return buffer;
            }
            free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, buffer: Vec<Block>) {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buffer);
        self.returned.notify_one();
    }

    /// Buffers not lent at this moment (for tests).
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

struct Lent<'a> {
    memory: &'a Argon2Memory,
    buffer: Vec<Block>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.memory.give_back(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    #[test]
    fn a_verification_waits_while_every_buffer_is_lent() {
        let memory = Arc::new(Argon2Memory::new(2));
        let (inside_tx, inside) = mpsc::channel();
        // Two verifications hold both buffers until told to finish.
        let holders: Vec<_> = (0..2)
            .map(|_| {
                let (memory, inside_tx) = (memory.clone(), inside_tx.clone());
                let (finish_tx, finish) = mpsc::channel::<()>();
                let t = std::thread::spawn(move || {
                    memory.with(4, |blocks| {
                        assert_eq!(blocks.len(), 4);
                        inside_tx.send("holder").unwrap();
                        finish.recv().unwrap();
                    })
                });
                (t, finish_tx)
            })
            .collect();
        inside.recv().unwrap();
        inside.recv().unwrap();
        assert_eq!(memory.idle(), 0);
        // A third does not get in while both are held ...
        let third = {
            let (memory, inside_tx) = (memory.clone(), inside_tx.clone());
            std::thread::spawn(move || memory.with(4, |_| inside_tx.send("third").unwrap()))
        };
        assert_eq!(
            inside.recv_timeout(Duration::from_millis(300)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "a third verification ran beside two holding both buffers"
        );
        // ... and does as soon as one is given back.
        let mut holders = holders.into_iter();
        let (first, finish) = holders.next().unwrap();
        finish.send(()).unwrap();
        first.join().unwrap();
        assert_eq!(inside.recv().unwrap(), "third");
        third.join().unwrap();
        for (t, finish) in holders {
            finish.send(()).unwrap();
            t.join().unwrap();
        }
        assert_eq!(memory.idle(), 2);
    }

    #[test]
    fn a_buffer_comes_back_after_a_panic_and_keeps_its_size() {
        let memory = Argon2Memory::new(1);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            memory.with(8, |_| panic!("inside Argon2"))
        }));
        assert!(panicked.is_err());
        assert_eq!(memory.idle(), 1);
        // The same buffer, already 8 blocks long, serves a smaller request without shrinking.
        memory.with(3, |blocks| assert_eq!(blocks.len(), 3));
        let kept = memory.free.lock().unwrap()[0].len();
        assert_eq!(kept, 8);
    }
}
