//! Quantities as users and Kubernetes write them: memory sizes, durations.

use std::time::Duration;

use anyhow::Result;

use crate::error::Hinted;

/// Parses a memory size: `4g`, `4096m`, `4GiB`, `512MB`, or plain bytes.
pub fn parse_memory(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().trim_end_matches("ib").trim_end_matches('b');
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad_memory(s)),
    };
    let n: f64 = num.parse().map_err(|_| bad_memory(s))?;
    if n <= 0.0 {
        return Err(bad_memory(s));
    }
    Ok((n * mult as f64) as u64)
}

fn bad_memory(s: &str) -> anyhow::Error {
    Hinted::new(
        format!("invalid memory size {s:?}"),
        "write it as a number with a unit, e.g. 4g or 3072m",
    )
    .into()
}

/// Parses `--wait`: `5m`, `90s`, `0` (do not wait).
pub fn parse_wait(s: &str) -> Result<Duration> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| {
        Hinted::new(
            format!("invalid duration {s:?}"),
            "write it like 90s, 5m or 0",
        )
        .caused_by(e)
        .into()
    })
}

/// Bytes of a Kubernetes memory quantity ("16331280Ki", "2Gi", "1000M").
pub fn quantity_bytes(q: &str) -> u64 {
    let split = q
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(q.len());
    let (n, unit) = q.split_at(split);
    let n: f64 = n.parse().unwrap_or(0.0);
    let mult: f64 = match unit {
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => 1.0,
    };
    (n * mult) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4g").unwrap(), 4 << 30);
        assert_eq!(parse_memory("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_memory("3072m").unwrap(), 3072 << 20);
        assert_eq!(parse_memory("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("1000").unwrap(), 1000);
        for bad in ["", "g", "4x", "-1g", "0"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kubernetes_quantities() {
        assert_eq!(quantity_bytes("16331280Ki"), 16331280 * 1024);
        assert_eq!(quantity_bytes("2Gi"), 2 << 30);
        assert_eq!(quantity_bytes("1000M"), 1_000_000_000);
    }

    #[test]
    fn waits() {
        assert_eq!(parse_wait("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_wait("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_wait("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_wait("soon").is_err());
    }
}
