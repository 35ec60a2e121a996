//! The sweeps: ARP, ICMP echo (as frames on-link, through sockets otherwise),
//! IPv6 neighbours, TCP SYN and TCP connect.

pub mod arp;
pub mod connect;
pub mod echo;
pub mod engine;
pub mod icmp;
pub mod ndp;
pub mod options;
pub mod syn;
#[cfg(test)]
mod tests;
