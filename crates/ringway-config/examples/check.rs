//! Checks configuration files: `cargo run -p ringway-config --example check -- FILE...`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for arg in std::env::args().skip(1) {
        match ringway_config::load(Path::new(&arg)) {
            Ok(config) => println!("{arg}: ok\n{config:#?}"),
            Err(errors) => {
                eprintln!("{errors}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
