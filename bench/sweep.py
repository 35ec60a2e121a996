#!/usr/bin/env python3
"""Discovery benchmark: census-agent against arp-scan, fping, nmap and masscan
on the same namespace lab (198.18.0.0/15 only), in the same run.

Prints, per tool: wall time (median of --runs), peak RSS, hosts and ports
found against the lab's ground truth, and census-agent's time as a ratio to
the fastest peer at the same accuracy. Appends the figures to bench/RESULTS.md.

Needs root. Usage: bench/sweep.py [--hosts 250] [--runs 3] [--no-record]
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = {"dnsmasq": "dnsmasq-base", "nmap": "nmap", "arp-scan": "arp-scan", "fping": "fping", "masscan": "masscan", "nbtscan": "nbtscan", "/usr/bin/time": "time"}


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def ensure_peers():
    missing = [pkg for exe, pkg in PEERS.items() if not shutil.which(exe) and not os.path.exists(exe)]
    if missing:
        sh("apt-get update -qq")
        sh(["apt-get", "install", "-y", "-qq"] + missing, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def top_ports(n):
    rows = []
    for line in open("/usr/share/nmap/nmap-services"):
        parts = line.split()
        if line.startswith("#") or len(parts) < 3 or not parts[1].endswith("/tcp"):
            continue
        rows.append((-float(parts[2]), int(parts[1].split("/")[0])))
    return [p for _, p in sorted(rows)[:n]]


class Lab:
    def __init__(self, hosts):
        self.truth_file = f"/tmp/census-bench-truth-{os.getpid()}.jsonl"
        self.proc = subprocess.Popen(
            [f"{ROOT}/target/release/census-lab", "up", str(hosts), "--truth", self.truth_file],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ns = None
        for line in self.proc.stdout:
            m = re.search(r"scanner namespace (\S+)", line)
            if m:
                self.ns = m.group(1)
            if line.startswith("press Enter"):
                break
        if not self.ns:
            raise SystemExit("lab did not come up")
        self.truth = [json.loads(l) for l in open(self.truth_file)]

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        finally:
            os.unlink(self.truth_file)

    def run(self, cmd, timeout=600):
        subprocess.run(["ip", "netns", "exec", self.ns, "ip", "neigh", "flush", "all"], check=False)
        full = ["ip", "netns", "exec", self.ns, "/usr/bin/time", "-f", "TIME %e %M"] + cmd
        t0 = time.monotonic()
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
        wall = time.monotonic() - t0
        m = re.search(r"TIME ([\d.]+) (\d+)", p.stderr)
        rss_kb = int(m.group(2)) if m else 0
        return wall, rss_kb, p.stdout


IP = r"(\d+\.\d+\.\d+\.\d+)"


def parse_census(out):
    start = out.find("{")
    batch = json.loads(out[start:])
    hosts = {h["ip"] for h in batch["hosts"]}
    ports = {(h["ip"], p["port"]) for h in batch["hosts"] for p in h.get("ports", []) if p["state"] == "open"}
    return hosts, ports


def parse_arpscan(out):
    return {m.group(1) for m in re.finditer(r"^" + IP + r"\t", out, re.M)}, set()


def parse_fping(out):
    return {l.strip() for l in out.splitlines() if re.fullmatch(IP, l.strip())}, set()


def parse_nmap(out):
    hosts = {m.group(1) for m in re.finditer(r"Host: " + IP + r" .*Status: Up", out)}
    ports = set()
    for m in re.finditer(r"Host: " + IP + r" .*Ports: (.*)", out):
        hosts.add(m.group(1))
        for entry in m.group(2).split(","):
            f = entry.strip().split("/")
            if len(f) > 2 and f[1] == "open":
                ports.add((m.group(1), int(f[0])))
    return hosts, ports


def parse_masscan(out):
    ports = set()
    for m in re.finditer(r"^open tcp (\d+) " + IP, out, re.M):
        ports.add((m.group(2), int(m.group(1))))
    return {ip for ip, _ in ports}, ports


def nmap_os_families(xml):
    """Map nmap -O's best osclass per host to Census's families."""
    out = {}
    for host in re.findall(r"<host .*?</host>", xml, re.S):
        m = re.search(r'<address addr="([\d.]+)" addrtype="ipv4"', host)
        c = re.search(r'<osclass [^>]*osfamily="([^"]+)"', host)
        if not m:
            continue
        fam = (c.group(1) if c else "").lower()
        out[m.group(1)] = {"linux": "linux", "windows": "windows", "ios": "network-os", "embedded": "network-os"}.get(fam, fam or None)
    return out


def census_names(out):
    """(ip, source) -> name from a census batch."""
    batch = json.loads(out[out.find("{"):])
    return {(h["ip"], n["source"]): n["name"] for h in batch["hosts"] for n in h.get("names", [])}


def nbtscan_names(out):
    """`ip;NAME;...` lines of nbtscan -s ';'."""
    return {(l.split(";")[0], "netbios"): l.split(";")[1].strip() for l in out.splitlines() if l.count(";") >= 2}


def nmap_nbstat_names(xml):
    out = {}
    for host in re.findall(r"<host .*?</host>", xml, re.S):
        m = re.search(r'<address addr="([\d.]+)" addrtype="ipv4"', host)
        n = re.search(r'<script id="nbstat" output="NetBIOS name: ([^,]+),', host)
        if m and n:
            out[(m.group(1), "netbios")] = n.group(1).strip()
    return out


def score_names(got, truth, sources):
    right = sum(1 for k, v in truth.items() if k[1] in sources and got.get(k) == v)
    wrong = sum(1 for k, v in got.items() if k[1] in sources and truth.get(k) != v)
    return right, wrong


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=250)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=20000, help="packets/s for census-agent and masscan")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    ensure_peers()
    sh(["cargo", "build", "--release", "-q", "-p", "census-agent", "-p", "census-lab"], cwd=ROOT)
    agent = f"{ROOT}/target/release/census-agent"
    third = (args.hosts - 1) // 200
    net = "198.18.0.0/23" if third < 2 else "198.18.0.0/22"
    ports = top_ports(100)
    plist = ",".join(map(str, ports))
    lab = Lab(args.hosts)
    try:
        truth_hosts = {h["ip"] for h in lab.truth}
        truth_ports = {(h["ip"], p) for h in lab.truth for p in h["ports"] if p in ports}
        rate = str(args.rate)
        # masscan never ARPs on-link targets; it sends everything to a router MAC.
        # Host 0 becomes that router: it forwards what is not its own back onto the segment.
        router_ns = lab.ns[: -len("-sc")] + "-h0"
        sh(["ip", "netns", "exec", router_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"])
        router_mac = lab.truth[0]["mac"]
        discovery = [
            # Like for like: no names (nmap -n, arp-scan and fping do not resolve either).
            ("census-agent --arp --icmp", [agent, "scan", net, "--exclude", "198.18.0.1", "--arp", "--icmp", "--no-names", "--json", "--rate", rate], parse_census),
            ("arp-scan", ["arp-scan", "-I", "eth0", net], parse_arpscan),
            ("fping -g", ["fping", "-a", "-q", "-g", net], parse_fping),
            ("nmap -sn (ARP)", ["nmap", "-n", "-sn", "-oG", "-", net], parse_nmap),
        ]
        portscan = [
            # Like for like with nmap -sS: no service identification, no names.
            ("census-agent ARP+SYN top100", [agent, "scan", net, "--exclude", "198.18.0.1", "--arp", "--ports", "top100", "--no-services", "--no-names", "--json", "--rate", rate], parse_census),
            ("nmap -sS top100 -T4", ["nmap", "-n", "-sS", "-T4", "--top-ports", "100", "-oG", "-", net], parse_nmap),
            ("masscan top100", ["timeout", "120", "masscan", net, "-p" + plist, "--rate", rate, "--wait", "1", "-e", "eth0",
                                "--router-mac", router_mac, "--exclude", "198.18.0.1", "-oL", "-"], parse_masscan),
        ]
        results = []
        for group, tools, want_ports in (("hosts", discovery, False), ("ports", portscan, True)):
            for name, cmd, parse in tools:
                walls, rss, found = [], [], None
                for _ in range(args.runs):
                    wall, kb, out = lab.run(cmd)
                    walls.append(wall)
                    rss.append(kb)
                    h, p = parse(out)
                    # The scanner's own address is not a discovered host.
                    h = h - {"198.18.0.1"}
                    p = {x for x in p if x[0] != "198.18.0.1"}
                    # Keep the worst run's accuracy: a tool is as good as its least complete sweep.
                    if found is None or (len(h & truth_hosts), len(p & truth_ports)) < (len(found[0] & truth_hosts), len(found[1] & truth_ports)):
                        found = (h, p)
                h, p = found
                row = {
                    "group": group, "tool": name, "wall": statistics.median(walls), "rss_mb": max(rss) / 1024,
                    "hosts": len(h & truth_hosts), "false_hosts": len(h - truth_hosts),
                    "ports": len(p & truth_ports), "false_ports": len(p - truth_ports),
                }
                row["exact"] = (row["hosts"] == len(truth_hosts) and row["false_hosts"] == 0) if not want_ports else \
                    (row["ports"] == len(truth_ports) and row["false_ports"] == 0)
                results.append(row)
                print(f"  {name:<28} {row['wall']:7.2f}s {row['rss_mb']:6.1f} MB  hosts {row['hosts']}/{len(truth_hosts)} (+{row['false_hosts']})  ports {row['ports']}/{len(truth_ports)} (+{row['false_ports']})", flush=True)
        # Fingerprinting: OS family against nmap -O, and the time to identify
        # every open port's service against nmap -sV, on the same hosts.
        fp_net = "198.18.0.10-59"
        fp_hosts = [h for h in lab.truth if int(h["ip"].split(".")[3]) < 60 and h["ip"].startswith("198.18.0.")]
        wall_c, kb_c, out_c = lab.run([agent, "scan", "198.18.0.10-198.18.0.59", "--arp", "--icmp", "--ports", "22,80,443,8080", "--json", "--rate", rate, "--no-names"])
        batch = json.loads(out_c[out_c.find("{"):])
        census_os = {h["ip"]: next((f["value"] for f in h.get("fingerprints", []) if f["kind"] == "os_family"), None) for h in batch["hosts"]}
        census_svc = sum(1 for h in batch["hosts"] for p in h.get("ports", []) if p.get("service"))
        wall_o, kb_o, out_o = lab.run(["nmap", "-n", "-O", "--osscan-guess", "-p", "22,80,443,8080", "-oX", "-", fp_net], timeout=900)
        nmap_os = nmap_os_families(out_o)
        wall_v, kb_v, out_v = lab.run(["nmap", "-n", "-sV", "-p", "22,80,443,8080", "-oX", "-", fp_net], timeout=900)
        # Identified = an open port whose service nmap actually probed (not guessed from the port number).
        nmap_svc = len(re.findall(r'<state state="open"[^>]*/><service name="(?!unknown)[^"]*"[^>]*method="probed"', out_v))
        truth_os = {h["ip"]: h["os"] for h in fp_hosts}
        census_right = sum(1 for ip, fam in truth_os.items() if census_os.get(ip) == fam)
        nmap_right = sum(1 for ip, fam in truth_os.items() if nmap_os.get(ip) == fam)
        fingerprint = (len(truth_os), census_right, nmap_right, wall_c, wall_o, wall_v, census_svc, nmap_svc,
                       sum(1 for h in fp_hosts for _ in h["ports"]))
        # Names: every source against the ground truth; NetBIOS also against nbtscan and nmap's nbstat script.
        truth_names = {(h["ip"], src): h[src] for h in lab.truth for src in ("ptr", "mdns", "netbios") if h.get(src)}
        wall_n, _, out_n = lab.run([agent, "scan", net, "--exclude", "198.18.0.1", "--arp", "--json", "--rate", rate])
        got_all = census_names(out_n)
        wall_nb, _, out_nb = lab.run([agent, "scan", net, "--exclude", "198.18.0.1", "--arp", "--name-sources", "netbios", "--json", "--rate", rate])
        got_nb = census_names(out_nb)
        wall_nbt, _, out_nbt = lab.run(["nbtscan", "-q", "-s", ";", net])
        wall_nmn, _, out_nmn = lab.run(["nmap", "-n", "-sU", "-p", "137", "--script", "nbstat", "-oX", "-", net], timeout=900)
        names = {
            "truth": {src: sum(1 for k in truth_names if k[1] == src) for src in ("ptr", "mdns", "netbios")},
            "all": (wall_n, {src: score_names(got_all, truth_names, {src}) for src in ("ptr", "mdns", "netbios")}),
            "census netbios": (wall_nb, score_names(got_nb, truth_names, {"netbios"})),
            "nbtscan": (wall_nbt, score_names(nbtscan_names(out_nbt), truth_names, {"netbios"})),
            "nmap nbstat": (wall_nmn, score_names(nmap_nbstat_names(out_nmn), truth_names, {"netbios"})),
        }
        # A port range on a small range at the default rate (5,000 pps): the
        # rate a sweep reaches on 104 ports (22,80,443,8000-8100), with ARP
        # (only live hosts get SYNs) and without (every address does: the
        # case that once ran at 408 pps), against nmap -sS on the same ports.
        range_ports = "22,80,443,8000-8100"
        range_net = "198.18.0.0/27"
        range_truth = {(h["ip"], p) for h in lab.truth for p in h["ports"]
                       if h["ip"].startswith("198.18.0.") and int(h["ip"].split(".")[3]) < 32
                       and (p in (22, 80, 443) or 8000 <= p <= 8100)}
        ranges = []
        for name, cmd in (
            ("census-agent ARP+SYN", [agent, "scan", range_net, "--exclude", "198.18.0.1", "--ports", range_ports, "--no-services", "--no-names", "--json"]),
            ("census-agent SYN only (--no-arp)", [agent, "scan", range_net, "--exclude", "198.18.0.1", "--no-arp", "--ports", range_ports, "--no-services", "--no-names", "--json"]),
            ("nmap -sS -T4", ["nmap", "-n", "-sS", "-T4", "-p", range_ports, "-oG", "-", range_net]),
        ):
            wall, kb, out = lab.run(cmd)
            if name.startswith("census"):
                batch = json.loads(out[out.find("{"):])
                comp = batch["completeness"]
                pps, sent = comp["rate_achieved_pps"], comp["probes_sent"]
                _, p = parse_census(out)
            else:
                pps, sent = None, None
                _, p = parse_nmap(out)
            p = {x for x in p if x[0] != "198.18.0.1"}
            ranges.append((name, wall, pps, sent, len(p & range_truth), len(p - range_truth)))
            print(f"  range {name:<34} {wall:6.2f}s  pps {pps if pps is not None else '-'}  ports {len(p & range_truth)}/{len(range_truth)}", flush=True)
        # The /16 around the lab: completes, and how much memory it takes.
        wall16, kb16, out16 = lab.run([agent, "scan", "198.18.0.0/16", "--exclude", "198.18.0.1", "--arp", "--icmp", "--ports", "top100", "--retries", "1", "--json", "--rate", rate])  # names and services on
        h16, p16 = parse_census(out16)
    finally:
        lab.close()
    lines = [f"### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — discovery and fingerprinting (bench/sweep.py): {args.hosts}-host lab on {net}, {args.runs} runs (median wall), rate {args.rate} pps for census-agent and masscan",
             "", f"Ground truth: {len(truth_hosts)} live hosts ({sum(1 for h in lab.truth if not h['icmp'])} ignore ICMP), {len(truth_ports)} open ports among the top 100.", "",
             "| sweep | tool | wall s | peak RSS MB | hosts found | false hosts | open ports found | false ports | exact |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['group']} | {r['tool']} | {r['wall']:.2f} | {r['rss_mb']:.1f} | {r['hosts']}/{len(truth_hosts)} | {r['false_hosts']} | {r['ports']}/{len(truth_ports)} | {r['false_ports']} | {'yes' if r['exact'] else 'no'} |")
    lines.append("")
    for group in ("hosts", "ports"):
        rows = [r for r in results if r["group"] == group]
        census = rows[0]
        peers = [r for r in rows[1:] if r["exact"]]
        if peers and census["exact"]:
            best = min(peers, key=lambda r: r["wall"])
            lines.append(f"- {group}: census-agent / fastest exact peer ({best['tool']}) = {census['wall'] / best['wall']:.2f}")
        elif census["exact"]:
            lines.append(f"- {group}: census-agent exact; no peer was exact (fastest peer overall: {min(rows[1:], key=lambda r: r['wall'])['tool']}, ratio {census['wall'] / min(r['wall'] for r in rows[1:]):.2f})")
        else:
            lines.append(f"- {group}: census-agent NOT exact")
    lines.append(f"- /16 around the lab (65,533 addresses, ARP+ICMP+top100 with service identification and names, 1 retry): {wall16:.2f}s, peak RSS {kb16 / 1024:.1f} MB, {len(h16 & truth_hosts)}/{len(truth_hosts)} hosts, {len(p16 & truth_ports)}/{len(truth_ports)} ports")
    nmap_range = ranges[-1][1]
    for name, wall, pps, sent, right, wrong in ranges:
        rate = f", {sent} probes at {pps:.0f} pps achieved (limit 5000)" if pps is not None else ""
        lines.append(f"- port range 22,80,443,8000-8100 on 198.18.0.0/27, default rate: {name} {wall:.2f}s{rate}, open ports {right}/{len(range_truth)} (+{wrong}); / nmap -sS -T4 = {wall / nmap_range:.2f}")
    n, cr, nr, wc, wo, wv, cs, ns_, tp = fingerprint
    lines.append(f"- OS family on {n} lab hosts (TTL personalities over one Linux stack: the lab is fair for TTL, vendor and banner heuristics, not full stack fingerprinting): census-agent right on {cr}/{n}, nmap -O right on {nr}/{n}")
    lines.append(f"- fingerprinting those hosts (discovery + SYN + service identification of {tp} open ports): census-agent {wc:.2f}s identified {cs}; nmap -O {wo:.2f}s; nmap -sV {wv:.2f}s identified {ns_}; census-agent / nmap -sV = {wc / wv:.2f}")
    t = names["truth"]
    wall_n, per = names["all"]
    lines.append(f"- names ({t['ptr']} PTR, {t['mdns']} mDNS, {t['netbios']} NetBIOS in the truth): census-agent ARP + all three sources {wall_n:.2f}s, right/wrong "
                 + ", ".join(f"{src} {r}/{w}" for src, (r, w) in per.items()))
    nb = [(tool, names[tool]) for tool in ("census netbios", "nbtscan", "nmap nbstat")]
    lines.append("- NetBIOS names: " + "; ".join(f"{tool} {wall:.2f}s right {r}/{t['netbios']} wrong {w}" for tool, (wall, (r, w)) in nb)
                 + f"; census-agent (ARP + NetBIOS) / nbtscan = {names['census netbios'][0] / names['nbtscan'][0]:.2f}, / nmap nbstat = {names['census netbios'][0] / names['nmap nbstat'][0]:.2f}")
    lines.append("")
    text = "\n".join(lines)
    print("\n" + text)
    if not args.no_record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
