//! One runtime API connection, in HAProxy 2.6's two modes. Non-interactive (the default): one
//! line (commands joined with `;`), the replies, each ended by an empty line, and the
//! connection closes once no further line has already arrived (lines sent together are all
//! answered, as HAProxy does). Interactive, entered with `prompt`: each reply is followed by
//! the `> ` prompt and the connection stays open for the next line until `quit`, a second
//! `prompt` (which toggles the mode off), the client's close or its idle timeout: each line must come whole within the connection's CLI timeout
//! (HAProxy's `stats timeout`, 10 s, changed per connection by `set timeout cli <delay>`).
//! Owns the line reading (bytes after a line wait for the next one), the mode and the
//! per-connection timeout; the commands are `control`'s.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ringway_stats::{end_reply, unknown_command_text};

use crate::admin::clients::{Deadline, Received};

/// HAProxy's default `stats timeout`: how long an interactive client may stay silent.
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// What follows each reply in interactive mode.
const PROMPT: &str = "> ";

/// The fixed limits of a connection, the server's.
pub struct Limits {
    /// How long a client may take to send its first line (non-interactive mode).
    pub first_line: Duration,
    /// How long a client may take to read one reply.
    pub reply: Duration,
    /// Longest line, newline included.
    pub max_line: usize,
    /// The reply to a longer line; the connection closes after it.
    pub too_long: &'static str,
}

/// What a command does to the connection, beside its reply.
pub enum Effect {
    /// An ordinary command: its reply.
    Reply(String),
    /// `prompt`: toggle interactive mode.
    TogglePrompt,
    /// `quit`: close now.
    Quit,
    /// `set timeout cli`: the new idle timeout.
    SetTimeout(Duration),
}

/// Lines of one client, in order; bytes after a newline stay for the next call.
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// The next line (newline included) arriving whole within `within`.
    fn next(
        &mut self,
        stream: &UnixStream,
        within: Duration,
        limit: usize,
    ) -> io::Result<Received> {
        let mut reader = Deadline::new(stream, within);
        let mut searched = 0;
        loop {
            if let Some(at) = self.pending[searched..].iter().position(|&b| b == b'\n') {
                let rest = self.pending.split_off(searched + at + 1);
                return Ok(Received::Complete(std::mem::replace(
                    &mut self.pending,
                    rest,
                )));
            }
            searched = self.pending.len();
            if self.pending.len() >= limit {
                return Ok(Received::TooLong);
            }
            let mut chunk = [0u8; 4096];
            let room = (limit - self.pending.len()).min(chunk.len());
            match reader.read(&mut chunk[..room]) {
                Ok(0) => return Ok(Received::Closed(std::mem::take(&mut self.pending))),
                Ok(read) => self.pending.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

/// Serves one client until it is done; `run` runs one command (already trimmed, not empty).
pub fn serve(stream: &UnixStream, limits: &Limits, mut run: impl FnMut(&str) -> Effect) {
    let mut lines = Lines {
        pending: Vec::new(),
    };
    let mut interactive = false;
    let mut idle_timeout = DEFAULT_CLI_TIMEOUT;
    loop {
        let within = if interactive {
            idle_timeout
        } else {
            limits.first_line
        };
        let (line, closed) = match lines.next(stream, within, limits.max_line) {
            Ok(Received::Complete(line)) => (line, false),
            // A line without newline counts once the client ends it by closing its side.
            Ok(Received::Closed(line)) if !line.is_empty() => (line, true),
            Ok(Received::TooLong) => {
                let _ = Deadline::new(stream, limits.reply).write_all(limits.too_long.as_bytes());
                return;
            }
            // Timed out, gone, or closed between lines: nothing to answer.
            Ok(Received::Closed(_)) | Err(_) => return,
        };
        let line = String::from_utf8_lossy(&line);
        let mut reply = String::new();
        let mut quit = false;
        let commands: Vec<&str> = line
            .split(';')
            .map(str::trim)
            .filter(|command| !command.is_empty())
            .collect();
        if commands.is_empty() && interactive {
            // HAProxy answers an empty line in interactive mode with the command list.
            reply.push_str(&end_reply(unknown_command_text()));
            reply.push_str(PROMPT);
        }
        for command in commands {
            let body = match run(command) {
                Effect::Reply(body) => body,
                Effect::TogglePrompt => {
                    interactive = !interactive;
                    String::new()
                }
                Effect::SetTimeout(timeout) => {
                    idle_timeout = timeout;
                    String::new()
                }
                Effect::Quit => {
                    quit = true;
                    break;
                }
            };
            reply.push_str(&end_reply(body));
            if interactive {
                reply.push_str(PROMPT);
            }
        }
        let written = Deadline::new(stream, limits.reply).write_all(reply.as_bytes());
        // Out of interactive mode HAProxy still answers the lines it has already received.
        let more = interactive || lines.pending.contains(&b'\n');
        if quit || closed || !more || written.is_err() {
            return;
        }
    }
}

/// `set timeout cli <delay>`, as HAProxy reads it: a whole number of seconds, or a number
/// with a unit (`ms`, `s`, `m`, `h`, `d`). Errors carry HAProxy's wording.
pub fn parse_set_timeout(words: &[&str]) -> Result<Duration, String> {
    match words {
        ["set", "timeout", "cli", delay, ..] => {
            let parsed = if delay.bytes().all(|b| b.is_ascii_digit()) {
                delay.parse::<u64>().ok().map(Duration::from_secs)
            } else {
                ringway_config::parse_duration(delay).ok()
            };
            // A zero delay would close the connection at once; HAProxy's smallest tick is 1 ms.
            parsed
                .map(|delay| delay.max(Duration::from_millis(1)))
                .ok_or_else(|| "Invalid timeout value.\n".to_string())
        }
        ["set", "timeout", "cli"] => Err("Expects an integer value.\n".to_string()),
        _ => Err("'set timeout' only supports 'cli'.\n".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_timeout_reads_haproxys_forms() {
        let parse = |line: &str| parse_set_timeout(&line.split_whitespace().collect::<Vec<_>>());
        assert_eq!(parse("set timeout cli 60"), Ok(Duration::from_secs(60)));
        assert_eq!(
            parse("set timeout cli 500ms"),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(parse("set timeout cli 2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse("set timeout cli abc"),
            Err("Invalid timeout value.\n".into())
        );
        assert_eq!(
            parse("set timeout cli"),
            Err("Expects an integer value.\n".into())
        );
        assert_eq!(
            parse("set timeout foo 5"),
            Err("'set timeout' only supports 'cli'.\n".into())
        );
    }

    #[test]
    fn lines_keep_what_follows_a_newline() {
        let (server, mut client) = UnixStream::pair().unwrap();
        client.write_all(b"prompt\nshow info\nsho").unwrap();
        let mut lines = Lines {
            pending: Vec::new(),
        };
        let second = Duration::from_secs(5);
        assert_eq!(
            lines.next(&server, second, 64).unwrap(),
            Received::Complete(b"prompt\n".to_vec())
        );
        assert_eq!(
            lines.next(&server, second, 64).unwrap(),
            Received::Complete(b"show info\n".to_vec())
        );
        client.write_all(b"w stat\n").unwrap();
        assert_eq!(
            lines.next(&server, second, 64).unwrap(),
            Received::Complete(b"show stat\n".to_vec())
        );
        client.write_all(&[b'x'; 70]).unwrap();
        assert_eq!(lines.next(&server, second, 64).unwrap(), Received::TooLong);
    }
}
