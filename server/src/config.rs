//! The server's settings: a YAML file (`--config`) and command-line flags, flags winning.
//!
//! ```yaml
//! listen: ["0.0.0.0:4433", "[::]:4433"]   # UDP (Trickles); IPv4 and/or IPv6
//! root: /srv/www                          # files served (relative paths: to this file)
//! key_file: /etc/trickles/keys.yaml       # needed when `listen` is not empty
//! metrics: 127.0.0.1:9100                 # /metrics and /healthz
//! tcp_listen: 0.0.0.0:8080                # HTTP/1.1 baseline over TCP
//! workers: 2                              # UDP worker threads per listen address
//! mss: 1200                               # payload bytes per data packet
//! watermark_root: /srv/images             # watermarking application (see crate::watermark)
//! balancers: ["10.0.0.1:4433"]            # trickles-balancers relaying here (udp::balancer_relay)
//! pool_key: /etc/trickles/pool.key         # the hop tag's key shared with the balancer (optional)
//! dsr_vips: ["198.51.100.10:4433"]        # direct return from the VIP (udp::direct_return)
//! dsr_vip_freebind: false                 # bind the VIP before it is on an interface
//! replay_capacity: 1048576                # requests per 32 s the replay filter is sized for
//! share_port: false                       # join another process already serving `listen`
//! ```
//!
//! Every key is optional in the file; unknown keys are errors (a typo must not be silently
//! ignored). The file is read through `trickles_netfn::ConfigSource`, as the balancer's and the
//! mirror's are: syntax and type errors carry the file, line and column serde_yaml reports;
//! semantic errors (no root, root not a directory, nothing to serve, ...) name the file and the
//! line of the offending key, or the command line when a flag supplied the value.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use trickles_netfn::ConfigSource;

use crate::cli::RunArgs;
use crate::error::ServerError;
use crate::udp::direct_return::{self, DirectReturnSettings};
use crate::watermark::settings::WatermarkInputs;

/// Smallest accepted `mss`.
pub const MIN_MSS: usize = 256;
/// Largest accepted `mss` (a jumbo frame's UDP payload, minus room for headers).
pub const MAX_MSS: usize = 8_800;
/// Largest accepted `workers`.
pub const MAX_WORKERS: usize = 1_024;
/// Smallest accepted `replay_capacity`.
pub const MIN_REPLAY_CAPACITY: usize = 1_024;
/// Largest accepted `replay_capacity` (about 1 GiB of filter at the default 10⁻⁶).
pub const MAX_REPLAY_CAPACITY: usize = 1 << 26;

/// The configuration file as written (every key optional); [`Settings::load`] merges it with
/// the flags and validates it. The lab writes configuration files by serializing this type.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfigFile {
    /// UDP listen addresses.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Root directory of the static files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Metrics endpoint address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// HTTP/TCP baseline address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_listen: Option<SocketAddr>,
    /// UDP worker threads per listen address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Payload bytes per data packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<usize>,
    /// Balancers whose encapsulation header is trusted.
    #[serde(default)]
    pub balancers: Vec<SocketAddr>,
    /// The pool key file (hop tags between balancer and replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_key: Option<PathBuf>,
    /// VIPs direct-return replies leave from.
    #[serde(default)]
    pub dsr_vips: Vec<SocketAddr>,
    /// Bind the VIPs with `IP_FREEBIND`.
    #[serde(default)]
    pub dsr_vip_freebind: bool,
    /// Source images of the watermarking application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_root: Option<PathBuf>,
    /// Font of the watermarking application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_font: Option<PathBuf>,
    /// Render cache budget of the watermarking application, in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_cache_mb: Option<u64>,
    /// Requests per generation (freshness + skew, 32 s) the replay filter is sized for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_capacity: Option<usize>,
    /// Share the UDP listen addresses with another process already serving them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share_port: bool,
}

impl ServerConfigFile {
    /// Parse a configuration file; errors name its file, line and column.
    pub fn parse(source: &ConfigSource) -> Result<Self, ServerError> {
        // An empty file (or only comments) is an empty mapping: all defaults.
        source.parse().map_err(|e| ServerError::ConfigSyntax {
            path: e.path,
            line: e.line.unwrap_or(0),
            column: e.column.unwrap_or(0),
            reason: e.reason,
        })
    }
}

/// The validated settings the server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// UDP listen addresses (may be empty when only the TCP baseline runs).
    pub listen: Vec<SocketAddr>,
    /// Root directory of the static files (an existing directory).
    pub root: PathBuf,
    /// Key file (present whenever `listen` is not empty).
    pub key_file: Option<PathBuf>,
    /// Metrics endpoint address.
    pub metrics: Option<SocketAddr>,
    /// HTTP/TCP baseline address.
    pub tcp_listen: Option<SocketAddr>,
    /// UDP worker threads per listen address.
    pub workers: usize,
    /// Payload bytes per data packet, if set (otherwise the core's default).
    pub mss: Option<usize>,
    /// Balancers whose encapsulation header is trusted (flags replace the file's list).
    pub balancers: Vec<SocketAddr>,
    /// The pool key file, if any (the flag replaces the file's).
    pub pool_key: Option<PathBuf>,
    /// Where direct-return replies leave from (flags replace the file's list).
    pub direct_return: DirectReturnSettings,
    /// The watermarking application, when configured.
    pub watermark: Option<crate::watermark::WatermarkSettings>,
    /// Requests per generation the replay filter is sized for, if set (otherwise the core's
    /// default, 2²⁰).
    pub replay_capacity: Option<usize>,
    /// Share the UDP listen addresses with another process (otherwise an address already
    /// served is refused: "address in use by another process").
    pub share_port: bool,
}

/// Where a setting came from, to point errors at it.
struct Origin<'a> {
    file: Option<&'a ConfigSource>,
}

impl Origin<'_> {
    /// An error about `key`, set by a flag when `from_flag`, else by the file.
    fn error(&self, key: &str, from_flag: bool, reason: String) -> ServerError {
        match self.file {
            Some(source) if !from_flag => {
                let located = source.error_at(key, reason);
                ServerError::ConfigInvalid {
                    path: located.path,
                    line: located.line,
                    reason: located.reason,
                }
            }
            _ => ServerError::ConfigInvalid {
                path: PathBuf::from("<command line>"),
                line: None,
                reason,
            },
        }
    }
}

impl Settings {
    /// Read `--config` (if given), apply the flags over it and validate the result.
    pub fn load(args: &RunArgs) -> Result<Self, ServerError> {
        match &args.config {
            None => Self::resolve(args, None, ServerConfigFile::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
                let source = ConfigSource::from_text(path, text);
                let file = ServerConfigFile::parse(&source)?;
                Self::resolve(args, Some(&source), file)
            }
        }
    }

    /// Merge `file` (read from `origin`) with the flags and validate.
    fn resolve(
        args: &RunArgs,
        origin: Option<&ConfigSource>,
        file: ServerConfigFile,
    ) -> Result<Self, ServerError> {
        let at = Origin { file: origin };
        // Relative paths in the file are relative to the file's directory.
        let in_file = |p: PathBuf| match origin {
            Some(source) => source.resolve(&p),
            None => p,
        };

        let listen_from_flag = !args.listen.is_empty();
        let listen = if listen_from_flag {
            args.listen.clone()
        } else {
            file.listen
        };
        let root_from_flag = args.root.is_some();
        let root = args.root.clone().or(file.root.map(in_file));
        let key_from_flag = args.key_file.is_some();
        let key_file = args.key_file.clone().or(file.key_file.map(in_file));
        let metrics = args.metrics.or(file.metrics);
        let tcp_from_flag = args.tcp_listen.is_some();
        let tcp_listen = args.tcp_listen.or(file.tcp_listen);
        let workers_from_flag = args.workers.is_some();
        let workers = args.workers.or(file.workers);
        let mss_from_flag = args.mss.is_some();
        let mss = args.mss.or(file.mss);
        let replay_from_flag = args.replay_capacity.is_some();
        let replay_capacity = args.replay_capacity.or(file.replay_capacity);
        let balancers = if args.balancers.is_empty() {
            file.balancers.clone()
        } else {
            args.balancers.clone()
        };
        let pool_key = args.pool_key.clone().or(file.pool_key.map(in_file));

        let Some(root) = root else {
            return Err(at.error(
                "root",
                true,
                "no root directory: set `root:` in the file or pass --root".into(),
            ));
        };
        match std::fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(at.error(
                    "root",
                    root_from_flag,
                    format!("root {} is not a directory", root.display()),
                ))
            }
            Err(e) => {
                return Err(at.error(
                    "root",
                    root_from_flag,
                    format!("root {}: {e}", root.display()),
                ))
            }
        }
        if listen.is_empty() && tcp_listen.is_none() {
            return Err(at.error(
                "listen",
                listen_from_flag || tcp_from_flag,
                "nothing to serve: give `listen` (UDP) and/or `tcp_listen` (HTTP baseline)".into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(duplicate) = listen.iter().find(|a| !seen.insert(**a)) {
            return Err(at.error(
                "listen",
                listen_from_flag,
                format!("listen address {duplicate} given twice"),
            ));
        }
        if !listen.is_empty() && key_file.is_none() {
            return Err(at.error(
                "key_file",
                key_from_flag || listen_from_flag,
                "UDP listeners need a key file: set `key_file:` or pass --key-file \
                 (create one with `trickles-server keygen -o FILE`)"
                    .into(),
            ));
        }
        if let Some(key_file) = &key_file {
            if let (Ok(key), Ok(served)) = (key_file.canonicalize(), root.canonicalize()) {
                if key.starts_with(&served) {
                    return Err(at.error(
                        "key_file",
                        key_from_flag,
                        format!(
                            "key file {} lies under the root {}: it would be served to anyone",
                            key_file.display(),
                            root.display()
                        ),
                    ));
                }
            }
        }
        let dsr_from_flag = !args.dsr_vips.is_empty() || args.dsr_vip_freebind;
        let direct_return = direct_return::resolve(
            if args.dsr_vips.is_empty() {
                &file.dsr_vips
            } else {
                &args.dsr_vips
            },
            args.dsr_vip_freebind || file.dsr_vip_freebind,
            &listen,
        )
        .map_err(|e| at.error(e.key, dsr_from_flag, e.reason))?;
        let workers = match workers {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n) if (1..=MAX_WORKERS).contains(&n) => n,
            Some(n) => {
                return Err(at.error(
                    "workers",
                    workers_from_flag,
                    format!("workers = {n}, must be between 1 and {MAX_WORKERS}"),
                ))
            }
        };
        if let Some(n) = mss {
            if !(MIN_MSS..=MAX_MSS).contains(&n) {
                return Err(at.error(
                    "mss",
                    mss_from_flag,
                    format!("mss = {n}, must be between {MIN_MSS} and {MAX_MSS}"),
                ));
            }
        }
        if let Some(n) = replay_capacity {
            if !(MIN_REPLAY_CAPACITY..=MAX_REPLAY_CAPACITY).contains(&n) {
                return Err(at.error(
                    "replay_capacity",
                    replay_from_flag,
                    format!(
                        "replay_capacity = {n}, must be between {MIN_REPLAY_CAPACITY} and \
                         {MAX_REPLAY_CAPACITY} requests per 32 s"
                    ),
                ));
            }
        }
        let flag_or_file = |flag: Option<PathBuf>, file: Option<PathBuf>| {
            flag.map(|p| (p, true))
                .or(file.map(|p| (in_file(p), false)))
        };
        let watermark = crate::watermark::settings::resolve(WatermarkInputs {
            root: flag_or_file(args.watermark_root.clone(), file.watermark_root),
            font: flag_or_file(args.watermark_font.clone(), file.watermark_font),
            cache_mb: args
                .watermark_cache_mb
                .map(|mb| (mb, true))
                .or(file.watermark_cache_mb.map(|mb| (mb, false))),
        })
        .map_err(|e| at.error(e.key, e.from_flag, e.reason))?;
        Ok(Settings {
            listen,
            root,
            key_file,
            metrics,
            tcp_listen,
            workers,
            mss,
            balancers,
            pool_key,
            direct_return,
            watermark,
            replay_capacity,
            share_port: args.share_port || file.share_port,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    /// Loads `file` the way `--config` does, after writing it into `dir`.
    fn written_and_loaded(dir: &Path, file: &ServerConfigFile) -> Settings {
        let path = dir.join("server.yaml");
        let text = serde_yaml::to_string(file).expect("serializes");
        std::fs::write(&path, text).expect("write the file");
        let args = RunArgs {
            config: Some(path),
            ..RunArgs::default()
        };
        Settings::load(&args).expect("the written file is valid")
    }

    #[test]
    fn a_written_file_loads_back_with_the_same_settings() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for sub in ["www", "images"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(dir.path().join("font.ttf"), b"not read here").expect("write");
        let file = ServerConfigFile {
            listen: vec![addr("198.18.0.1:4433"), addr("[2001:2::1]:4433")],
            root: Some("www".into()),
            key_file: Some(dir.path().join("keys.yaml")),
            metrics: Some(addr("198.18.0.1:9100")),
            tcp_listen: Some(addr("[2001:2::1]:8080")),
            workers: Some(3),
            mss: Some(1_200),
            balancers: vec![addr("198.18.0.9:4433")],
            pool_key: Some("pool.key".into()),
            dsr_vips: vec![addr("198.18.0.10:4433"), addr("[2001:2::10]:4433")],
            dsr_vip_freebind: true,
            watermark_root: Some("images".into()),
            watermark_font: Some("font.ttf".into()),
            watermark_cache_mb: Some(64),
            replay_capacity: Some(1 << 21),
            share_port: true,
        };
        let settings = written_and_loaded(dir.path(), &file);
        assert_eq!(
            settings,
            Settings {
                listen: file.listen.clone(),
                root: dir.path().join("www"),
                key_file: Some(dir.path().join("keys.yaml")),
                metrics: file.metrics,
                tcp_listen: file.tcp_listen,
                workers: 3,
                mss: Some(1_200),
                balancers: file.balancers.clone(),
                pool_key: Some(dir.path().join("pool.key")),
                direct_return: DirectReturnSettings {
                    vips: file.dsr_vips.clone(),
                    free_bind: true,
                },
                watermark: Some(crate::watermark::WatermarkSettings {
                    root: dir.path().join("images"),
                    font: dir.path().join("font.ttf"),
                    cache_mb: 64,
                }),
                replay_capacity: Some(1 << 21),
                share_port: true,
            }
        );
    }

    #[test]
    fn a_written_file_leaves_out_what_is_unset() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("www")).expect("mkdir");
        let file = ServerConfigFile {
            root: Some("www".into()),
            tcp_listen: Some(addr("198.18.0.1:8080")),
            ..ServerConfigFile::default()
        };
        let text = serde_yaml::to_string(&file).expect("serializes");
        for unset in [
            "key_file",
            "pool_key",
            "metrics",
            "workers",
            "mss",
            "watermark_root",
        ] {
            assert!(!text.contains(unset), "{unset} written:\n{text}");
        }
        let settings = written_and_loaded(dir.path(), &file);
        assert_eq!(settings.listen, Vec::<SocketAddr>::new());
        assert_eq!(settings.tcp_listen, file.tcp_listen);
        assert_eq!(settings.watermark, None);
    }

    #[test]
    fn an_invalid_value_is_located_on_its_top_level_key() {
        let source = ConfigSource::from_text(
            "s.yaml",
            "# root: not here\nlisten: []\nnested:\n  root: x\nroot : /srv\n",
        );
        let at = Origin {
            file: Some(&source),
        };
        let error = at.error("root", false, "bad root".into()).to_string();
        assert_eq!(error, "s.yaml:5: bad root");
        let flag = at.error("root", true, "bad root".into()).to_string();
        assert_eq!(flag, "<command line>: bad root");
    }
}
