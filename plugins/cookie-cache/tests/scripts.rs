//! The Lua scripts against a real `redis-server` (a direct child process on a free loopback
//! port, killed by pid): fresh reads never lock, misses and stale copies take the lock once,
//! stores release only their own lock, an uncacheable fetch turns the lock into a hit-for-pass
//! marker that sends everyone upstream until a store clears it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use cookie_cache::entry::Entry;
use gateway_host::testing::RedisServer;
use gateway_sdk::redis::Reply;
use gateway_sdk::redis::codec::decode_reply;

const LOOKUP: &str = include_str!("../lua/lookup.lua");
const STORE: &str = include_str!("../lua/store.lua");
const RELEASE: &str = include_str!("../lua/release.lua");
const PASS: &str = include_str!("../lua/pass.lua");

/// A real redis-server from gateway-host's test support, replies decoded by the SDK's codec.
struct Redis {
    server: RedisServer,
}

impl Redis {
    fn start() -> Redis {
        Redis { server: RedisServer::start().expect("redis-server starts") }
    }

    fn cmd(&self, args: &[&[u8]]) -> Reply {
        let frame = self.server.command_frame(args).expect("redis answers");
        decode_reply(&frame).expect("a whole RESP2 reply")
    }

    fn eval(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> Reply {
        let n = keys.len().to_string();
        let mut all: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), n.as_bytes()];
        all.extend(keys.iter().map(|k| k.as_bytes()));
        all.extend(args);
        self.cmd(&all)
    }
}

const E: &str = "cc:{k}:e";
const L: &str = "cc:{k}:l";

fn lookup(r: &Redis, now: u64, token: &str, lock_ms: &str) -> (Option<Vec<u8>>, i64) {
    let now = now.to_string();
    match r.eval(LOOKUP, &[E, L], &[now.as_bytes(), token.as_bytes(), lock_ms.as_bytes()]) {
        Reply::Array(items) => {
            let entry = match &items[0] {
                Reply::Bulk(b) => Some(b.clone()),
                Reply::Nil => None,
                other => panic!("{other:?}"),
            };
            let Reply::Int(locked) = items[1] else { panic!("{items:?}") };
            (entry, locked)
        }
        other => panic!("{other:?}"),
    }
}

fn entry(stored_at_ms: u64) -> Vec<u8> {
    Entry { status: 200, headers: vec![], body: b"page".to_vec(), stored_at_ms, fresh_ms: 1_000 }.encode()
}

#[test]
fn a_miss_locks_once_and_the_store_releases_only_its_own_lock() {
    let r = Redis::start();
    assert_eq!(lookup(&r, 10_000, "a", "5000"), (None, 1), "the first miss takes the lock");
    assert_eq!(lookup(&r, 10_000, "b", "5000"), (None, 0), "the second one does not");
    let pttl = r.cmd(&[b"PTTL", L.as_bytes()]);
    assert!(matches!(pttl, Reply::Int(ms) if ms > 4_000 && ms <= 5_000), "{pttl:?}");

    // A store by a non-holder leaves the lock alone.
    r.eval(STORE, &[E, L], &[&entry(10_000), b"60000", b"b"]);
    assert_eq!(r.cmd(&[b"GET", L.as_bytes()]), Reply::Bulk(b"a".to_vec()));
    // The holder's store releases it.
    r.eval(STORE, &[E, L], &[&entry(10_000), b"60000", b"a"]);
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(0));
    let pttl = r.cmd(&[b"PTTL", E.as_bytes()]);
    assert!(matches!(pttl, Reply::Int(ms) if ms > 59_000), "{pttl:?}");

    // Fresh: returned without locking.
    assert_eq!(lookup(&r, 10_500, "c", "5000"), (Some(entry(10_000)), 0));
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(0));
    // Stale: returned, and one caller takes the lock to refresh it.
    assert_eq!(lookup(&r, 11_000, "c", "5000"), (Some(entry(10_000)), 1));
    assert_eq!(lookup(&r, 11_000, "d", "5000"), (Some(entry(10_000)), 0));
    // Without stampede protection nobody locks.
    r.cmd(&[b"DEL", L.as_bytes()]);
    assert_eq!(lookup(&r, 11_000, "e", "0"), (Some(entry(10_000)), 0));
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(0));
}

#[test]
fn release_deletes_only_the_callers_lock() {
    let r = Redis::start();
    assert_eq!(lookup(&r, 1, "mine", "5000").1, 1);
    assert_eq!(r.eval(RELEASE, &[L], &[b"theirs"]), Reply::Int(0));
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(1));
    assert_eq!(r.eval(RELEASE, &[L], &[b"mine"]), Reply::Int(1));
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(0));
}

#[test]
fn a_foreign_value_under_the_entry_key_counts_as_stale() {
    let r = Redis::start();
    r.cmd(&[b"SET", E.as_bytes(), b"not an entry"]);
    assert_eq!(lookup(&r, 1, "a", "5000"), (Some(b"not an entry".to_vec()), 1));
}

#[test]
fn only_the_lock_holder_turns_its_lock_into_a_hit_for_pass_marker_and_a_store_clears_it() {
    let r = Redis::start();
    assert_eq!(lookup(&r, 1, "holder", "5000").1, 1);
    assert_eq!(r.eval(PASS, &[L], &[b"someone-else", b"30000"]), Reply::Int(0), "not theirs to mark");
    assert_eq!(r.cmd(&[b"GET", L.as_bytes()]), Reply::Bulk(b"holder".to_vec()));
    assert_eq!(r.eval(PASS, &[L], &[b"holder", b"30000"]), Reply::Int(1));
    let pttl = r.cmd(&[b"PTTL", L.as_bytes()]);
    assert!(matches!(pttl, Reply::Int(ms) if ms > 29_000 && ms <= 30_000), "{pttl:?}");

    // Everyone now goes upstream at once; nobody can take the lock.
    for token in ["a", "b", "c"] {
        assert_eq!(lookup(&r, 2, token, "5000"), (None, 2), "{token}");
    }
    assert_eq!(r.eval(RELEASE, &[L], &[b"holder"]), Reply::Int(0), "a late release leaves the marker");
    assert_eq!(r.eval(PASS, &[L], &[b"holder", b"30000"]), Reply::Int(0), "the marker is nobody's lock");
    // A fresh entry still wins over the marker.
    r.cmd(&[b"SET", E.as_bytes(), &entry(2)]);
    assert_eq!(lookup(&r, 3, "d", "5000"), (Some(entry(2)), 0));
    r.cmd(&[b"DEL", E.as_bytes()]);

    // A pass request whose response was cacheable stores it and clears the marker.
    r.eval(STORE, &[E, L], &[&entry(10), b"60000", b""]);
    assert_eq!(r.cmd(&[b"EXISTS", L.as_bytes()]), Reply::Int(0));
    assert_eq!(lookup(&r, 2_000, "e", "5000"), (Some(entry(10)), 1), "stale again later: one request locks");
}
