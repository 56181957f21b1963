//! The Redis test harness itself: a real server starts, stops and restarts.

mod redis_server;

use redis_server::{RedisServer, ping};

#[test]
fn starts_answers_stops_and_restarts_on_the_same_port() {
    let mut server = RedisServer::start();
    assert!(ping(server.port()));
    assert!(server.url().starts_with("redis://127.0.0.1:"));
    server.stop();
    assert!(!ping(server.port()), "a stopped server still answers");
    server.restart();
    assert!(ping(server.port()));
}
