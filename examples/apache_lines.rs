//! Writes deterministic Apache "combined" access-log lines to stdout, for
//! end-to-end benchmarks: `cargo run --release --example apache_lines -- --lines 2000000`
//! or `-- --bytes 1000000000`.

#[path = "../benches/common/apache_lines.rs"]
#[allow(dead_code)]
mod apache;

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let max_lines = value("--lines").unwrap_or(u64::MAX);
    let max_bytes = value("--bytes").unwrap_or(u64::MAX);
    if max_lines == u64::MAX && max_bytes == u64::MAX {
        eprintln!("usage: apache_lines (--lines N | --bytes N) [--seed S]");
        std::process::exit(2);
    }
    let mut rng = apache::Rng::new(value("--seed").unwrap_or(42));
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let (mut lines, mut bytes) = (0u64, 0u64);
    while lines < max_lines && bytes < max_bytes {
        let l = apache::line(&mut rng);
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")?;
        lines += 1;
        bytes += l.len() as u64 + 1;
    }
    out.flush()
}
