//! `census-lab`: build a lab by hand for exploring Census, or clean up after
//! test runs that were killed before they could tear down.

use std::io::BufRead;

use anyhow::Context;

fn usage() -> ! {
    eprintln!(
        "usage: census-lab up [HOSTS] [--truth FILE]   build a lab of HOSTS generated hosts (default 20), print it,\n                                   keep it until Enter or EOF; --truth writes the ground truth as JSON lines\n       census-lab gc [--all]    delete lab namespaces of dead processes (--all: of every process)"
    );
    std::process::exit(2)
}

/// Block until a line (or EOF) on stdin, SIGINT or SIGTERM — so the lab is
/// torn down however the user stops it.
fn wait_for_enter_or_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stdin = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().lock().lines().next();
        });
        tokio::select! {
            _ = stdin => {},
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // The blocking stdin reader may still be parked in read(); it ends with the process.
    rt.shutdown_background();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("up") => {
            let count: usize = match args.get(1).filter(|a| !a.starts_with("--")) {
                Some(n) => n.parse().context("HOSTS must be a number")?,
                None => 20,
            };
            let truth = args.iter().position(|a| a == "--truth").and_then(|i| args.get(i + 1)).cloned();
            anyhow::ensure!((1..=2000).contains(&count), "HOSTS must be between 1 and 2000");
            census_lab::check_available()?;
            let mut lab = census_lab::Lab::build(census_lab::generated_hosts(count))?;
            // Serve the hosts' PTR records inside the lab when dnsmasq is installed.
            if let Err(e) = lab.start_dns() {
                eprintln!("census-lab: no lab DNS ({e}); names will come from TLS certificates only");
            }
            println!("lab {} up: scanner namespace {} ({})", lab.name(), lab.scanner_netns(), lab.scanner_ip());
            println!("{:<16} {:<18} {:<24} {:<10} {:<5} ports", "ip", "mac", "vendor", "os", "icmp");
            for h in lab.hosts() {
                let ports: Vec<String> = h.open_ports().iter().map(|p| p.to_string()).collect();
                println!(
                    "{:<16} {:<18} {:<24} {:<10} {:<5} {}",
                    h.ip,
                    h.mac.to_string(),
                    h.vendor.unwrap_or("(randomised)"),
                    h.os.family(),
                    if h.answers_icmp { "yes" } else { "no" },
                    ports.join(",")
                );
            }
            if let Some(path) = truth {
                let mut text = String::new();
                for h in lab.hosts() {
                    let ports: Vec<String> = h.open_ports().iter().map(|p| p.to_string()).collect();
                    // Generated names and vendors hold no quotes or backslashes.
                    let json = |v: Option<&str>| v.map(|v| format!("\"{v}\"")).unwrap_or_else(|| "null".into());
                    text.push_str(&format!(
                        "{{\"ip\":\"{}\",\"mac\":\"{}\",\"vendor\":{},\"os\":\"{}\",\"icmp\":{},\"ports\":[{}],\
                         \"ptr\":{},\"mdns\":{},\"netbios\":{}}}\n",
                        h.ip,
                        h.mac,
                        json(h.vendor),
                        h.os.family(),
                        h.answers_icmp,
                        ports.join(","),
                        json(h.ptr_name.as_deref()),
                        json(h.mdns_name.as_deref()),
                        json(h.netbios.as_ref().map(|n| n.name.as_str())),
                    ));
                }
                std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
            }
            println!("try: ip netns exec {} ping -c1 {}", lab.scanner_netns(), lab.hosts()[0].ip);
            println!("press Enter (or close stdin, or Ctrl-C) to tear the lab down");
            wait_for_enter_or_signal()?;
            drop(lab);
            println!("lab torn down");
        }
        Some("gc") => {
            let names = if args.get(1).map(String::as_str) == Some("--all") {
                census_lab::netns::all_lab_namespaces()
            } else {
                census_lab::netns::stale_namespaces()
            };
            census_lab::netns::delete_namespaces(&names);
            println!("deleted {} lab namespaces", names.len());
        }
        _ => usage(),
    }
    Ok(())
}
