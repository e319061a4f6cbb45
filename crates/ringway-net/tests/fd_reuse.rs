//! A socket made on a descriptor number that a closed socket of the same poller had: its own
//! test binary, because it moves a connection onto a freed descriptor number with `dup2`, and
//! in a process running other tests at once another thread could take that number in between.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use common::{adopt, connect, echo_server, on_executor, round_trip};

#[test]
fn a_new_socket_on_a_reused_descriptor_is_woken() {
    let addr = echo_server();
    on_executor(1, move || async move {
        let mut first = connect(addr).await;
        round_trip(&mut first, b"one").await;
        let fd = first.as_raw_fd();
        // The next connection, echoed once so that the peer thread has accepted it (and taken
        // its own descriptor) before the number is freed.
        let mut std_socket = std::net::TcpStream::connect(addr).unwrap();
        std_socket.write_all(b"x").unwrap();
        std_socket.read_exact(&mut [0u8; 1]).unwrap();
        std_socket.set_nonblocking(true).unwrap();
        drop(first);
        // Moved onto the freed number without yielding, so the poller's slot for it is the old
        // socket's.
        // SAFETY: plain system call on descriptors of this test; `fd` is free since the drop.
        assert_eq!(unsafe { libc::dup2(std_socket.as_raw_fd(), fd) }, fd);
        drop(std_socket);
        let mut second = adopt(fd);
        round_trip(&mut second, b"two").await;
    });
}
