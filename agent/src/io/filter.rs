//! The kernel filters of the capture ([`super::capture`]): classic BPF
//! programs attached to the AF_PACKET socket. A sweep's keeps every frame
//! received on its interface ([`sweep_program`]); passive listening's
//! ([`passive_program`]) keeps only what it reads — ARP, DHCPv4 client messages (UDP to port
//! 67, first fragments only), mDNS (UDP port 5353, IPv4 and IPv6) and NDP
//! (ICMPv6 types 133–136: router and neighbour solicitations and
//! advertisements). Everything else on a busy segment is dropped in the
//! kernel, not copied to user space.
//!
//! The socket is not bound: the program's first instructions keep only
//! frames received on the chosen interface (the kernel's ancillary
//! `ifindex` load) and drop the host's own outgoing frames (`pkttype`), so
//! the capture needs no unsafe `bind(2)` of a link-layer address.
//!
//! Written out by hand (26 instructions; `tcpdump -dd 'arp or (ip and udp
//! dst port 67 …)'` gives an equivalent body), and run in the tests by a
//! small interpreter over canned frames.

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

const fn i(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

const LDH_ABS: u16 = 0x28;
const LDB_ABS: u16 = 0x30;
const LDH_IND: u16 = 0x48;
const LDXB_MSH: u16 = 0xb1;
const JEQ: u16 = 0x15;
const JGT: u16 = 0x25;
const JGE: u16 = 0x35;
const JSET: u16 = 0x45;
const RET: u16 = 0x06;
const LDW_ABS: u16 = 0x20;

/// Linux's ancillary-data loads (`SKF_AD_OFF` + `SKF_AD_PKTTYPE` / `SKF_AD_IFINDEX`).
const AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const AD_IFINDEX: u32 = 0xffff_f000 + 8;
/// `PACKET_OUTGOING`: a frame this host sent.
const PACKET_OUTGOING: u32 = 4;

/// The sweeps' program for interface `ifindex`: frames received there,
/// none of this host's own (its probes would otherwise come back to its
/// own receiver, one copy per probe).
pub fn sweep_program(ifindex: u32) -> [Insn; 6] {
    [
        i(LDW_ABS, 0, 0, AD_IFINDEX),  // received on the interface?
        i(JEQ, 0, 3, ifindex),         // no → drop (5)
        i(LDW_ABS, 0, 0, AD_PKTTYPE),  // sent by this host?
        i(JEQ, 1, 0, PACKET_OUTGOING), // yes → drop (5)
        i(RET, 0, 0, SNAP),            // accept
        i(RET, 0, 0, 0),               // drop
    ]
}

/// Passive listening's program for interface `ifindex`: the interface and
/// direction checks, then [`BODY`].
pub fn passive_program(ifindex: u32) -> Vec<Insn> {
    let mut p = vec![
        i(LDW_ABS, 0, 0, AD_IFINDEX),   // received on the interface?
        i(JEQ, 0, 23, ifindex),         // no → drop (25)
        i(LDW_ABS, 0, 0, AD_PKTTYPE),   // sent by this host?
        i(JEQ, 21, 0, PACKET_OUTGOING), // yes → drop (25)
    ];
    p.extend_from_slice(&BODY);
    p
}

/// Bytes of an accepted frame handed to the process (frames are at most 1,518 bytes).
pub const SNAP: u32 = 2048;

/// The protocol checks. Jumps are relative: the target is `pc + 1 + offset`.
pub const BODY: [Insn; 22] = [
    i(LDH_ABS, 0, 0, 12),   // 0: ethertype
    i(JEQ, 18, 0, 0x0806),  // 1: ARP → accept (20)
    i(JEQ, 1, 0, 0x0800),   // 2: IPv4 → 4
    i(JEQ, 8, 17, 0x86dd),  // 3: IPv6 → 12, else drop (21)
    i(LDB_ABS, 0, 0, 23),   // 4: IPv4 protocol
    i(JEQ, 0, 15, 17),      // 5: UDP → 6, else drop
    i(LDH_ABS, 0, 0, 20),   // 6: flags and fragment offset
    i(JSET, 13, 0, 0x1fff), // 7: a later fragment → drop
    i(LDXB_MSH, 0, 0, 14),  // 8: X = IPv4 header length
    i(LDH_IND, 0, 0, 16),   // 9: UDP destination port
    i(JEQ, 9, 0, 67),       // 10: DHCP server port → accept
    i(JEQ, 8, 9, 5353),     // 11: mDNS → accept, else drop
    i(LDB_ABS, 0, 0, 20),   // 12: IPv6 next header
    i(JEQ, 0, 3, 58),       // 13: ICMPv6 → 14, else 17
    i(LDB_ABS, 0, 0, 54),   // 14: ICMPv6 type
    i(JGE, 0, 5, 133),      // 15: below 133 → drop
    i(JGT, 4, 3, 136),      // 16: above 136 → drop, else accept
    i(JEQ, 0, 3, 17),       // 17: UDP → 18, else drop
    i(LDH_ABS, 0, 0, 56),   // 18: UDP destination port
    i(JEQ, 0, 1, 5353),     // 19: mDNS → accept, else drop
    i(RET, 0, 0, SNAP),     // 20: accept
    i(RET, 0, 0, 0),        // 21: drop
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `prog` over `pkt` as the kernel does for these opcodes; a load
    /// past the end drops the frame, as in the kernel.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        run_on(prog, pkt, 7, 0)
    }

    /// Run as received on interface `ifindex` with packet type `pkttype`.
    fn run_on(prog: &[Insn], pkt: &[u8], ifindex: u32, pkttype: u32) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| pkt.get(at).copied().map(u32::from);
        let half = |at: usize| Some((byte(at)? << 8) | byte(at + 1)?);
        for _ in 0..1000 {
            let ins = prog[pc];
            let k = ins.k as usize;
            let jump = |c: bool| pc + 1 + usize::from(if c { ins.jt } else { ins.jf });
            pc = match ins.code {
                LDH_ABS => match half(k) {
                    Some(v) => {
                        a = v;
                        pc + 1
                    }
                    None => return 0,
                },
                LDB_ABS => match byte(k) {
                    Some(v) => {
                        a = v;
                        pc + 1
                    }
                    None => return 0,
                },
                LDH_IND => match half(x as usize + k) {
                    Some(v) => {
                        a = v;
                        pc + 1
                    }
                    None => return 0,
                },
                LDXB_MSH => match byte(k) {
                    Some(v) => {
                        x = 4 * (v & 0xf);
                        pc + 1
                    }
                    None => return 0,
                },
                LDW_ABS if ins.k == AD_IFINDEX => {
                    a = ifindex;
                    pc + 1
                }
                LDW_ABS if ins.k == AD_PKTTYPE => {
                    a = pkttype;
                    pc + 1
                }
                JEQ => jump(a == ins.k),
                JGT => jump(a > ins.k),
                JGE => jump(a >= ins.k),
                JSET => jump(a & ins.k != 0),
                RET => return ins.k,
                other => panic!("opcode {other:#x} not interpreted"),
            };
        }
        panic!("the program loops");
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4_udp(dport: u16, frag: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 48, 0, 0];
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, 17, 0, 0, 198, 18, 0, 1, 255, 255, 255, 255]);
        p.extend_from_slice(&[0, 68]);
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 20, 0, 0]);
        p.extend_from_slice(&[0; 12]);
        p
    }

    fn ipv6(next: u8, first_payload_bytes: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, next, 255];
        p.extend_from_slice(&[0; 32]);
        p.extend_from_slice(first_payload_bytes);
        p.extend_from_slice(&[0; 16]);
        p
    }

    #[test]
    fn only_what_passive_listening_reads_passes() {
        let prog = passive_program(7);
        let pass = |f: &[u8]| run(&prog, f) == SNAP;
        assert!(pass(&eth(0x0806, &[0; 28])), "ARP");
        assert!(pass(&eth(0x0800, &ipv4_udp(67, 0))), "DHCP to the server port");
        assert!(pass(&eth(0x0800, &ipv4_udp(5353, 0x4000))), "mDNS, don't-fragment set");
        assert!(!pass(&eth(0x0800, &ipv4_udp(68, 0))), "a server's answer");
        assert!(!pass(&eth(0x0800, &ipv4_udp(53, 0))), "DNS");
        assert!(!pass(&eth(0x0800, &ipv4_udp(67, 0x0005))), "a later fragment");
        let mut tcp = ipv4_udp(67, 0);
        tcp[9] = 6;
        assert!(!pass(&eth(0x0800, &tcp)), "TCP to 67");
        for t in 133..=136 {
            assert!(pass(&eth(0x86dd, &ipv6(58, &[t]))), "NDP type {t}");
        }
        assert!(!pass(&eth(0x86dd, &ipv6(58, &[128]))), "an echo request");
        assert!(!pass(&eth(0x86dd, &ipv6(58, &[137]))), "a redirect");
        assert!(pass(&eth(0x86dd, &ipv6(17, &[0x14, 0xe9, 0x14, 0xe9]))), "mDNS over IPv6");
        assert!(!pass(&eth(0x86dd, &ipv6(6, &[0; 4]))), "TCP over IPv6");
        assert!(!pass(&eth(0x88cc, &[0; 40])), "LLDP");
        assert!(!pass(&[0u8; 10]), "a runt");
        // A header length pointing past the frame drops it.
        let mut long_ihl = ipv4_udp(67, 0);
        long_ihl[0] = 0x4f;
        assert!(!pass(&eth(0x0800, &long_ihl[..30])));
    }

    #[test]
    fn frames_of_other_interfaces_and_this_hosts_own_are_dropped() {
        let prog = passive_program(7);
        let arp = eth(0x0806, &[0; 28]);
        assert_eq!(run_on(&prog, &arp, 7, 0), SNAP, "to this host");
        assert_eq!(run_on(&prog, &arp, 7, 1), SNAP, "broadcast");
        assert_eq!(run_on(&prog, &arp, 3, 1), 0, "another interface");
        assert_eq!(run_on(&prog, &arp, 7, PACKET_OUTGOING), 0, "our own");
        assert_eq!(prog.len(), 26);
        assert_eq!(prog[25], i(RET, 0, 0, 0), "the prefix's jumps land on the drop");
    }

    #[test]
    fn a_sweep_keeps_every_frame_received_on_its_interface_and_none_of_its_own() {
        let prog = sweep_program(7);
        for frame in [eth(0x0806, &[0; 28]), eth(0x0800, &ipv4_udp(53, 0)), eth(0x86dd, &ipv6(58, &[129]))] {
            assert_eq!(run_on(&prog, &frame, 7, 0), SNAP, "an answer to this host");
            assert_eq!(run_on(&prog, &frame, 7, 1), SNAP, "a broadcast");
            assert_eq!(run_on(&prog, &frame, 3, 0), 0, "another interface");
            assert_eq!(run_on(&prog, &frame, 7, PACKET_OUTGOING), 0, "our own probe");
        }
    }
}
