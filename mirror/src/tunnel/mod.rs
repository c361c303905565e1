//! The tunnel endpoint that carries ordinary IP traffic (the TCP baseline) through the mirror.
//!
//! TCP cannot be given a shim, so each host runs an endpoint: IP packets the kernel routes into
//! a TUN device are wrapped for the remote endpoint and sent to the mirror, which treats them
//! like any other datagram (same peers, same guard, same emulated path); packets the mirror
//! delivers from the remote endpoint are written back into the device. See
//! `docs/NETWORK-FUNCTIONS.md` §4.7.
//!
//! - [`tun_device`]: the TUN device (needs `CAP_NET_ADMIN`);
//! - [`codec`]: wrap and accept, without I/O;
//! - [`endpoint`]: the thread that moves packets.

pub mod codec;
pub mod endpoint;
pub mod tun_device;

pub use codec::TunnelCodec;
pub use endpoint::{TunnelCounters, TunnelEndpoint};
pub use tun_device::TunDevice;
