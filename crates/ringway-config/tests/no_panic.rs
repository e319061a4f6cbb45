//! No input makes the parser panic: truncated and mutated versions of the
//! bundled files, and garbage, all come back as `Ok` or `Err`.
//!
//! Inserted pieces are TOML punctuation and digits, never letters, so few
//! mutants carry a new host name that would need a DNS lookup.

use std::path::Path;

use ringway_config::parse;

/// xorshift64*: deterministic, good enough to pick mutation points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    texts.sort();
    assert!(!texts.is_empty());
    texts
}

fn check(text: &str) {
    // Ok or Err are both fine; formatting the errors must not panic either.
    if let Err(errors) = parse(text, "fuzz.toml") {
        assert!(!errors.is_empty());
        let _ = errors.to_string();
    }
}

#[test]
fn truncations() {
    for text in corpus() {
        let mut cut = 0;
        while cut <= text.len() {
            if text.is_char_boundary(cut) {
                check(&text[..cut]);
                check(&text[cut..]);
            }
            cut += 7;
        }
    }
}

#[test]
fn mutations() {
    const PIECES: &[&str] = &[
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        "=",
        "\"",
        "'",
        ",",
        ".",
        "\n",
        "#",
        ":",
        "-",
        "0",
        "1",
        "9",
        "_",
        " ",
        "é",
        "\u{0}",
        "\"\"\"",
        "-1",
        "99999999999999999999",
        "[]",
        "{}",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for text in corpus() {
        for _ in 0..400 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        bytes.splice(at..at, piece.bytes());
                    }
                    1 => {
                        let end = (at + 1 + rng.below(40)).min(bytes.len());
                        bytes.drain(at.min(end)..end);
                    }
                    _ => {
                        let end = (at + 1 + rng.below(40)).min(bytes.len());
                        let chunk: Vec<u8> = bytes[at.min(end)..end].to_vec();
                        bytes.splice(at..at, chunk);
                    }
                }
            }
            check(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn garbage() {
    let mut rng = Rng(42);
    for len in [0, 1, 2, 10, 100, 1000] {
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check(&String::from_utf8_lossy(&bytes));
        }
    }
    let deep_arrays = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_tables = format!("a = {}{}", "{ b = ".repeat(5_000), "}".repeat(5_000));
    let dotted = format!("{} = 1", vec!["k"; 10_000].join("."));
    for text in [
        "\u{feff}",
        "\u{feff}[global]\nshards = 1",
        "\r\n\r\n",
        "[global]\r\nshards = 1\r\n",
        "frontend = 5\nbackend = \"x\"",
        "frontend = [1, \"a\", []]\nbackend = [{}]",
        "[[frontend]]\n[[frontend]]\n[[backend]]\n[[backend.server]]\n[[backend.server]]",
        "global = []\ndefaults = 1",
        "[global]\nshards = 1979-05-27T07:32:00Z",
        "[defaults]\ntimeout_client = 18446744073709551615\n",
        "[defaults]\ntimeout_client = \"18446744073709551615d\"\n",
        "[defaults]\ntimeout_client = -9223372036854775808\n",
        "[defaults]\ntimeout_client = nan\n",
        &deep_arrays,
        &deep_tables,
        &dotted,
    ] {
        check(text);
    }
}
