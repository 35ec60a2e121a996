//! The compact port list used on the wire (`22,80,443,8000-8010`): how an
//! agent says which TCP ports it probed without listing 65,535 numbers.

use crate::types::Port;

/// Write sorted, de-duplicated ports as a compact list with ranges.
pub fn compact(ports: &[Port]) -> String {
    let mut v: Vec<u16> = ports.iter().map(|p| p.0).collect();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// Whether a compact list names `port`. Malformed entries name nothing.
pub fn contains(list: &str, port: Port) -> bool {
    list.split(',').any(|part| {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&port.0),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(port.0),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_runs_into_ranges_and_reads_them_back() {
        let ports: Vec<Port> = [443, 22, 80, 8000, 8001, 8002, 22].into_iter().map(Port).collect();
        let list = compact(&ports);
        assert_eq!(list, "22,80,443,8000-8002");
        for p in [22, 80, 443, 8000, 8001, 8002] {
            assert!(contains(&list, Port(p)), "{p}");
        }
        for p in [21, 81, 7999, 8003] {
            assert!(!contains(&list, Port(p)), "{p}");
        }
        assert_eq!(compact(&[]), "");
        assert!(!contains("", Port(0)));
        assert!(!contains("x-9,,5-", Port(5)));
    }
}
