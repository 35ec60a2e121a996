//! Reading the register a page at a time for a full run, with the reading,
//! the decoding and the use of the pages overlapped.
//!
//! A full reconcile reads the whole register twice: once for the match
//! index (each asset's keys) and once for the rules pass (each asset
//! whole). Neither keeps it decoded — at a million assets that is gigabytes
//! — so both go a page at a time. Each page costs a read (a statement, on
//! PostgreSQL a round trip and the server's work) and a decode (JSON, on
//! every core), and both were done one after the other on one thread: the
//! rules pass waited about as long for pages as it worked on them (a
//! million assets on PostgreSQL: 1.1-1.3 s of 2.1-2.3 s; the reads about
//! 1.0 s, the decoding 0.9 s). Here the read of the next page runs while
//! this one is decoded, and both while the one before is used: three
//! threads, a page in hand on each and one waiting between each pair, so
//! about six pages' worth are in memory at most (one page each in use,
//! waiting, being decoded — raw and decoded at once — waiting raw and being
//! read). A rules-pass page (5,000 assets) is a few MB as text and as
//! much again decoded; an index page (20,000) is about 8 MB of text, its
//! keys less. The pages travel as the backend's own rows
//! ([`StoredPage`](crate::store::StoredPage)), decoded in place.
//!
//! The end of the register is a message of its own: a helper that stops
//! without sending it (a panic) ends the items with an error, never as if
//! the register ended there.
//!
//! On two cores shared with the database server the overlap mostly turns
//! waiting into work: the waits shrank (index 0.7 s -> 0.1-0.36 s, rules
//! pass 1.1-1.3 s -> 0.45-0.8 s) while the phases took about as long
//! (bench/RESULTS.md, 2026-12-06 night); with cores to spare it is the
//! difference between the sum of reading and decoding and the larger.

use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// What passes between the threads: a page, the end of the register, or
/// the store error that ended the read.
enum Message<P> {
    Page(P),
    End,
    Failed(StoreError),
}

/// Read pages on one helper thread and decode them on another, ahead of
/// `take`, which sees the decoded items in order.
///
/// `read(after)` returns a page of raw rows and the key the next page
/// begins after (`None`: the last), as a
/// [`KeysetPage`](crate::store::KeysetPage) does; `decode` turns a page of
/// rows into items (it may leave rows out). Returns what `take` returned,
/// the first store error (which ended the items early: a caller must not
/// act on part of them), and how long `take` waited for pages. When `take`
/// returns before the end, the helpers stop after the page in hand.
pub fn read_ahead<P: Send, T: Send, Out>(
    mut read: impl FnMut(Option<&str>) -> Result<(P, Option<String>), StoreError> + Send,
    decode: impl Fn(P) -> Vec<T> + Send,
    take: impl FnOnce(&mut dyn Iterator<Item = T>) -> Out,
) -> (Out, Option<StoreError>, Duration) {
    let (raw_tx, raw_rx) = sync_channel::<Message<P>>(1);
    let (items_tx, items_rx) = sync_channel::<Message<Vec<T>>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut after: Option<String> = None;
            loop {
                let (page, next) = match read(after.as_deref()) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = raw_tx.send(Message::Failed(e));
                        return;
                    }
                };
                // The decoder gone (the taker stopped early): stop reading.
                if raw_tx.send(Message::Page(page)).is_err() {
                    return;
                }
                match next {
                    Some(n) => after = Some(n),
                    None => {
                        let _ = raw_tx.send(Message::End);
                        return;
                    }
                }
            }
        });
        scope.spawn(move || {
            for message in raw_rx {
                let message = match message {
                    Message::Page(p) => Message::Page(decode(p)),
                    Message::End => Message::End,
                    Message::Failed(e) => Message::Failed(e),
                };
                if items_tx.send(message).is_err() {
                    return;
                }
            }
        });
        let mut items =
            Ahead { rx: items_rx, page: Vec::new().into_iter(), done: false, failed: None, waiting: Duration::ZERO };
        let r = take(&mut items);
        (r, items.failed.take(), items.waiting)
    })
}

/// The items of the pages [`read_ahead`] reads.
struct Ahead<T> {
    rx: Receiver<Message<Vec<T>>>,
    page: std::vec::IntoIter<T>,
    /// The end, or an error, was received: no more items.
    done: bool,
    failed: Option<StoreError>,
    waiting: Duration,
}

impl<T> Iterator for Ahead<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.page.next() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let t = Instant::now();
            let message = self.rx.recv();
            self.waiting += t.elapsed();
            match message {
                Ok(Message::Page(page)) => self.page = page.into_iter(),
                Ok(Message::End) => self.done = true,
                Ok(Message::Failed(e)) => {
                    self.failed = Some(e);
                    self.done = true;
                }
                // A helper stopped without saying why (it panicked): not the end of the register.
                Err(_) => {
                    self.failed = Some(StoreError::Db("reading the register stopped before its end".into()));
                    self.done = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::KeysetPage;

    /// Pages of `size` numbers from 0 to `end`, keyed by the last number (as text).
    fn pages(
        end: u32,
        size: u32,
        reads: &AtomicUsize,
    ) -> impl FnMut(Option<&str>) -> Result<KeysetPage<u32>, StoreError> {
        move |after| {
            reads.fetch_add(1, Ordering::Relaxed);
            let from = after.map_or(0, |a| a.parse::<u32>().unwrap() + 1);
            let page: Vec<u32> = (from..end.min(from + size)).collect();
            let next = (page.len() == size as usize).then(|| page.last().unwrap().to_string());
            Ok((page, next))
        }
    }

    #[test]
    fn every_item_is_seen_once_in_order_decoded() {
        let reads = AtomicUsize::new(0);
        let (seen, failed, _) = read_ahead(
            pages(1_003, 10, &reads),
            |p| p.into_iter().filter(|n| n % 7 != 0).map(|n| n * 2).collect(),
            |items| items.collect::<Vec<u32>>(),
        );
        assert!(failed.is_none());
        let want: Vec<u32> = (0..1_003).filter(|n| n % 7 != 0).map(|n| n * 2).collect();
        assert_eq!(seen, want);
        // 100 full pages, then the short one that ends the read.
        assert_eq!(reads.load(Ordering::Relaxed), 101);
    }

    #[test]
    fn a_store_error_ends_the_items_and_is_returned() {
        let mut n = 0;
        let read = |after: Option<&str>| {
            n += 1;
            if n == 3 {
                return Err(StoreError::Unavailable("gone".into()));
            }
            let from = after.map_or(0, |a| a.parse::<u32>().unwrap() + 1);
            Ok(((from..from + 5).collect::<Vec<u32>>(), Some((from + 4).to_string())))
        };
        let (seen, failed, _) = read_ahead(read, |p| p, |items| items.collect::<Vec<u32>>());
        assert_eq!(seen, (0..10).collect::<Vec<_>>(), "the pages before the error, nothing after");
        assert!(matches!(failed, Some(StoreError::Unavailable(_))));
    }

    #[test]
    fn a_helper_that_stops_without_the_end_is_an_error_not_the_end() {
        // The decoder's side of the channel: two pages, then it is gone
        // (as when it panics) without sending the end.
        let (tx, rx) = sync_channel(2);
        tx.send(Message::Page(vec![1, 2])).unwrap();
        tx.send(Message::Page(vec![3])).unwrap();
        drop(tx);
        let mut items = Ahead { rx, page: Vec::new().into_iter(), done: false, failed: None, waiting: Duration::ZERO };
        assert_eq!(items.by_ref().collect::<Vec<u32>>(), [1, 2, 3]);
        assert!(matches!(items.failed, Some(StoreError::Db(_))), "an error, not the end of the register");
        // With the end sent, the same pages end cleanly.
        let (tx, rx) = sync_channel(3);
        tx.send(Message::Page(vec![1, 2])).unwrap();
        tx.send(Message::End).unwrap();
        drop(tx);
        let mut items = Ahead { rx, page: Vec::new().into_iter(), done: false, failed: None, waiting: Duration::ZERO };
        assert_eq!(items.by_ref().collect::<Vec<u32>>(), [1, 2]);
        assert!(items.failed.is_none());
    }

    #[test]
    fn a_taker_that_stops_early_stops_the_reader() {
        // An endless register: the read ends only because the taker stopped.
        let reads = AtomicUsize::new(0);
        let (first, failed, _) =
            read_ahead(pages(u32::MAX, 4, &reads), |p| p, |items| items.take(6).collect::<Vec<_>>());
        assert_eq!(first, [0, 1, 2, 3, 4, 5]);
        assert!(failed.is_none());
        // The page in use, one waiting for it, one decoding, one waiting for
        // the decoder, one the reader holds when it sees the decoder gone.
        assert!(reads.load(Ordering::Relaxed) <= 6, "{} pages read", reads.load(Ordering::Relaxed));
    }
}
