//! What the lab measures during a run: [`delivery`] (bytes a client delivered over time, sampled
//! from outside), [`transfer`] (one client transfer while a failure schedule is carried out),
//! [`recovery`] (stall and recovery times read off a delivery trace).

pub mod delivery;
pub mod recovery;
pub mod transfer;
