//! `trickles-mirror-tunnel`: carry a host's ordinary IP traffic (the TCP baseline) through a
//! `trickles-mirror`, over a TUN device (see `trickles_mirror::tunnel`). Needs `CAP_NET_ADMIN`.
//!
//! ```text
//! # host A (runs the TCP client)                  # host B (runs the TCP server)
//! trickles-mirror-tunnel --via M:7000 \           trickles-mirror-tunnel --via M:7000 \
//!   --listen 0.0.0.0:7101 --remote B:7102 \         --listen 0.0.0.0:7102 --remote A:7101 \
//!   --address 198.18.7.1 --peer-address 198.18.7.2  --address 198.18.7.2 --peer-address 198.18.7.1
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use trickles_mirror::tunnel::{TunDevice, TunnelCodec, TunnelEndpoint};
use trickles_netfn::{AuthKey, MirrorRoute};

/// Carry IP packets between a TUN device and a remote tunnel endpoint through a mirror.
#[derive(Debug, Parser)]
#[command(name = "trickles-mirror-tunnel", version)]
struct Args {
    /// The mirror's UDP address.
    #[arg(long)]
    via: SocketAddr,
    /// The remote endpoint's UDP address (as the mirror sees it).
    #[arg(long)]
    remote: SocketAddr,
    /// Local UDP address (the mirror must list it as a peer).
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// TUN device name (`%d`: the kernel picks a number).
    #[arg(long, default_value = "tmir%d")]
    tun: String,
    /// A key the mirror knows, as `ID:HEX` (tags every datagram).
    #[arg(long, value_name = "ID:HEX", value_parser = AuthKey::from_flag)]
    key: Option<AuthKey>,
    /// Configure the device: this host's tunnel address (point-to-point, IPv4).
    #[arg(long, requires = "peer_address")]
    address: Option<Ipv4Addr>,
    /// The remote host's tunnel address.
    #[arg(long, requires = "address")]
    peer_address: Option<Ipv4Addr>,
    /// Device MTU when configuring it (room for the outer headers on a 1500-byte path).
    #[arg(long, default_value_t = 1400)]
    mtu: u16,
}

fn run(args: Args) -> Result<(), String> {
    let mut route = MirrorRoute::new(args.via);
    if let Some(key) = args.key {
        route = route.with_key(key);
    }
    let codec = TunnelCodec::new(route, args.remote);
    let device = TunDevice::create(&args.tun).map_err(|e| format!("TUN device: {e}"))?;
    if let (Some(local), Some(remote)) = (args.address, args.peer_address) {
        device
            .configure(local, remote, args.mtu)
            .map_err(|e| e.to_string())?;
    }
    // The datapath's socket: 4 MiB buffers (forced when root), so a burst at 100 Mbit/s waits
    // in the kernel while this thread is descheduled instead of overflowing a default buffer
    // (212 KB, 17 ms at that rate).
    let socket = trickles_netfn::udp::bind_one(args.listen).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    println!(
        "trickles-mirror-tunnel: {} <-> {} via {} (udp {local}, {} bytes overhead)",
        device.name(),
        args.remote,
        args.via,
        codec.overhead()
    );
    let endpoint = TunnelEndpoint::start(device, socket, codec).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    });
    endpoint.stop();
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trickles-mirror-tunnel: {e}");
            ExitCode::FAILURE
        }
    }
}
