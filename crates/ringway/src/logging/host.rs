//! What syslog headers say about this machine and this moment: the host name, the process id,
//! and the time with the local offset from UTC (RFC 3164 timestamps are local time).

use std::time::{SystemTime, UNIX_EPOCH};

use ringway_stats::SyslogTime;

/// The host name (`gethostname`), or `None` when it cannot be read.
pub fn hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&byte| byte == 0).unwrap_or(0);
    let name = String::from_utf8_lossy(&buffer[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Now, with the local offset from UTC (0 when the C library cannot tell).
pub fn now() -> SyslogTime {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SyslogTime {
        since_epoch,
        utc_offset: utc_offset(since_epoch.as_secs()),
    }
}

/// The local offset from UTC at `seconds` since the epoch, in seconds (0 when unknown).
pub fn utc_offset(seconds: u64) -> i32 {
    let Ok(time) = libc::time_t::try_from(seconds) else {
        return 0;
    };
    // SAFETY: localtime_r fills the struct we own from a valid time_t.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            return 0;
        }
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    }
}
