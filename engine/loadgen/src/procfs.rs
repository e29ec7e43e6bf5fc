//! What Linux's /proc says of a process (memory, CPU time, open files, threads) and of the
//! machine (TCP segments sent): the load generators' measurements of the engine they drive.

/// Resident memory of a process, from /proc (Linux).
pub(super) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Open file descriptors of a process: the entries of /proc/<pid>/fd (Linux).
pub(super) fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Threads of a process, from /proc/<pid>/status (Linux).
pub(super) fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// CPU time of a process in cores over a window: in its own code and in the kernel.
#[derive(Debug, Clone, Copy)]
pub struct CpuSplit {
    pub user: f64,
    pub kernel: f64,
}

/// USER_HZ on Linux: the unit of /proc/<pid>/stat's times.
pub(super) const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub(super) struct Ticks {
    pub user: u64,
    pub kernel: u64,
}

/// User and system CPU time of a process in clock ticks, from /proc (Linux).
pub(super) fn cpu_ticks(pid: u32) -> Option<Ticks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Ticks {
        user: fields.get(11)?.parse().ok()?,
        kernel: fields.get(12)?.parse().ok()?,
    })
}

/// TCP segments sent by this machine since boot, from /proc/net/snmp (Linux).
pub(super) fn tcp_out_segments() -> Option<u64> {
    out_segments(&std::fs::read_to_string("/proc/net/snmp").ok()?)
}

fn out_segments(snmp: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let at = names.split_whitespace().position(|n| n == "OutSegs")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcp_out_segments_by_column_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm InSegs OutSegs RetransSegs\nTcp: 1 58126395 58025372 68839\n";
        assert_eq!(out_segments(snmp), Some(58_025_372));
        assert_eq!(out_segments("Tcp: InSegs\nTcp: 5\n"), None);
    }
}
