//! `ringway-load origin ...` serves as a test origin; `ringway-load run ...`
//! generates load. See `ringway_load::cli`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    ringway_load::cli::run(ringway_load::cli::Cli::parse())
}
