//! Deliveries in flight per agent, bounded.
//!
//! An agent delivers its spool one batch at a time; a few at once covers a
//! restarted agent whose old connection has not timed out yet. One that
//! opens dozens of connections is either broken or hostile, and each
//! connection costs the daemon a body held in memory and a place in the
//! writer's queue ahead of every other agent. So each agent gets at most
//! [`PER_AGENT`] deliveries at a time; the next is answered `429 Too Many
//! Requests` with a `Retry-After` before its body is read, and the agent
//! keeps the batch spooled and sends it again (agents treat any answer
//! but a receipt as "retry later").

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Deliveries one agent may have in flight at once.
pub const PER_AGENT: usize = 4;

/// Counts of deliveries in flight, by agent name.
#[derive(Debug, Default)]
pub struct InFlight {
    by_agent: Mutex<HashMap<String, usize>>,
}

/// A delivery counted in [`InFlight`] until dropped.
#[derive(Debug)]
pub struct Slot {
    table: Arc<InFlight>,
    agent: String,
}

impl InFlight {
    /// Count one more delivery from `agent`, or `None` when it already has
    /// [`PER_AGENT`] in flight.
    pub fn enter(table: &Arc<InFlight>, agent: &str) -> Option<Slot> {
        let mut map = table.by_agent.lock();
        let n = map.entry(agent.to_string()).or_insert(0);
        if *n >= PER_AGENT {
            return None;
        }
        *n += 1;
        Some(Slot { table: table.clone(), agent: agent.to_string() })
    }

    /// Deliveries `agent` has in flight.
    pub fn count(&self, agent: &str) -> usize {
        self.by_agent.lock().get(agent).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.table.by_agent.lock();
        if let Some(n) = map.get_mut(&self.agent) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // The table holds only agents with something in flight.
                map.remove(&self.agent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_agent_has_its_own_bound_and_a_slot_is_given_back_when_dropped() {
        let t = Arc::new(InFlight::default());
        let held: Vec<Slot> = (0..PER_AGENT).map(|_| InFlight::enter(&t, "evil").unwrap()).collect();
        assert!(InFlight::enter(&t, "evil").is_none(), "over the bound");
        let good = InFlight::enter(&t, "good").expect("another agent is not affected");
        assert_eq!((t.count("evil"), t.count("good")), (PER_AGENT, 1));
        drop(held.into_iter().next());
        assert!(InFlight::enter(&t, "evil").is_some(), "a finished delivery frees its place");
        drop(good);
        assert_eq!(t.count("good"), 0);
        assert!(!t.by_agent.lock().contains_key("good"), "nothing kept for an agent with nothing in flight");
    }
}
