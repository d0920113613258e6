//! The socket calls std does not offer: the UDP receive buffer, the
//! kernel's count of datagrams it dropped, TCP keepalive, and `poll(2)`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// `setsockopt` of an `int` option.
fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a valid `int` for the duration of the call and its
    // size is passed; `fd` is an open socket owned by the caller.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt` of an `int` option.
fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for a receive buffer of `bytes` on `socket`; returns the size the
/// kernel granted ([`receive_buffer`]). Linux caps a request at
/// `net.core.rmem_max` unless the process may exceed it, which
/// `SO_RCVBUFFORCE` tries first (it takes `CAP_NET_ADMIN`), as rsyslog
/// does.
pub fn set_receive_buffer(socket: &impl AsRawFd, bytes: usize) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let want = bytes.min(i32::MAX as usize) as libc::c_int;
    #[cfg(target_os = "linux")]
    let forced = set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_ok();
    #[cfg(not(target_os = "linux"))]
    let forced = false;
    if !forced {
        set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
    }
    receive_buffer(socket)
}

/// The receive buffer of `socket`, in bytes, in the terms of a request:
/// Linux doubles the size it is asked for (the other half is for its
/// bookkeeping) and reports the doubled size, halved here.
pub fn receive_buffer(socket: &impl AsRawFd) -> io::Result<usize> {
    let reported = get_int(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF)
        .map(|v| v.max(0) as usize)?;
    Ok(if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    })
}

/// The number of datagrams the kernel dropped for `socket` since it was
/// created (its receive queue was full), a wrapping 32-bit count; `None`
/// where the kernel does not tell (`SO_MEMINFO`, Linux 4.6 and later).
#[cfg(target_os = "linux")]
pub fn dropped(socket: &impl AsRawFd) -> Option<u32> {
    /// `SO_MEMINFO` (asm-generic/socket.h; the same on x86, ARM and RISC-V).
    const SO_MEMINFO: libc::c_int = 55;
    // Newer kernels may report more than the nine values known today.
    let mut info = [0u32; 16];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let drops = libc::SK_MEMINFO_DROPS as usize;
    (r == 0 && len as usize >= (drops + 1) * 4).then(|| info[drops])
}

/// The number of datagrams the kernel dropped: unknown here.
#[cfg(not(target_os = "linux"))]
pub fn dropped(_: &impl AsRawFd) -> Option<u32> {
    None
}

/// Turns TCP keepalive on for an accepted connection: a peer that vanished
/// (a host powered off, a connection dropped by a firewall) is found out
/// after `idle` of silence and a few unanswered probes, and its slot freed.
pub fn keepalive(socket: &impl AsRawFd, idle: Duration) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    #[cfg(target_os = "linux")]
    {
        let secs = idle.as_secs().clamp(1, 32_767) as libc::c_int;
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs)?;
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 15)?;
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = idle;
    Ok(())
}

/// An entry for [`poll`]: waits for `fd` to be readable.
pub fn readable(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Whether a [`poll`] entry has something to say: data, the end of the
/// stream, or an error (each found out by reading).
pub fn ready(p: &libc::pollfd) -> bool {
    p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// Waits up to `timeout` for one of `fds` to be ready; returns how many
/// are (0 on timeout or when a signal interrupted the wait).
pub fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid, exclusively borrowed array of its length.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r >= 0 {
        return Ok(r as usize);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_full_receive_queue_drops_datagrams_and_says_how_many() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let granted = set_receive_buffer(&rx, 1).unwrap();
        assert!(granted > 0 && granted < 16 * 1024, "{granted}");
        assert_eq!(dropped(&rx), Some(0));
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = 200;
        for _ in 0..sent {
            tx.send_to(&[b'x'; 200], rx.local_addr().unwrap()).unwrap();
        }
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let mut received = 0;
        while rx.recv(&mut buf).is_ok() {
            received += 1;
        }
        let drops = dropped(&rx).unwrap();
        assert!(drops > 0, "nothing dropped with a {granted}-byte buffer");
        assert_eq!(received + drops, sent);
    }

    #[test]
    fn poll_waits_and_wakes() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut fds = [readable(rx.as_raw_fd())];
        let t = Instant::now();
        assert_eq!(poll(&mut fds, Duration::from_millis(50)).unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(45));
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        assert_eq!(poll(&mut fds, Duration::from_secs(5)).unwrap(), 1);
        assert!(ready(&fds[0]));
    }
}
