//! The sweeps: ARP, ICMP echo, TCP SYN and TCP connect.

pub mod arp;
pub mod connect;
pub mod engine;
pub mod icmp;
pub mod ndp;
pub mod syn;
#[cfg(test)]
mod tests;
