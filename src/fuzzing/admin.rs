//! The admin listener (`/metrics`, `/healthz`, the page and its API): whatever octets a
//! browser or a stranger sends on a connection, through the real server on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::LazyLock;
use std::time::Duration;

use super::lab::{lab, runtime};

/// The running admin listener's address; its shutdown trigger is kept for the process's life.
static ADMIN: LazyLock<(SocketAddr, crate::runtime::shutdown::Trigger)> = LazyLock::new(|| {
    let app = &lab().app;
    let (trigger, shutdown) = crate::runtime::shutdown::channel();
    let server = runtime().block_on(async {
        crate::admin::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            crate::admin::Listeners::default(),
            app.store.clone(),
            app.clock.clone(),
            app.verifier.signin_log().clone(),
        )
    });
    let server = server.expect("the admin listener binds on loopback");
    let address = server.local_addr().expect("its address");
    runtime().spawn(server.serve(shutdown));
    (address, trigger)
});

/// One connection: the octets sent, the write side closed, the answer read until the server
/// closes, 64 KiB, or a quarter of a second of silence (a live event stream never ends).
pub fn request(data: &[u8]) {
    let Ok(mut conn) = TcpStream::connect(ADMIN.0) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(250)));
    let _ = conn.write_all(data);
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let mut answer = [0u8; 4096];
    let mut read = 0;
    while read < 64 * 1024 {
        match conn.read(&mut answer) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
}
