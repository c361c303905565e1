//! Every configuration file parser on arbitrary text: the server's, the balancer's, the
//! mirror's, and the key file. The first byte picks the parser. Claim: no panic; an error
//! names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trickles_netfn::ConfigSource;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let name = "fuzz.yaml";
    match which % 4 {
        0 => {
            let source = ConfigSource::from_text(name, text);
            if let Err(e) = trickles_server::config::ServerConfigFile::parse(&source) {
                assert!(e.to_string().contains(name));
            }
        }
        1 => {
            let source = ConfigSource::from_text(name, text);
            if let Err(e) = trickles_balancer::config::BalancerConfig::from_source(&source) {
                assert!(e.to_string().contains(name));
            }
        }
        2 => {
            let source = ConfigSource::from_text(name, text);
            if let Err(e) = trickles_mirror::MirrorSettings::from_source(&source) {
                assert!(e.to_string().contains(name));
            }
        }
        _ => {
            let path = std::path::Path::new("keys.yaml");
            if let Err(e) = trickles_server::keyfile::KeyFile::parse(path, &text) {
                assert!(e.to_string().contains("keys.yaml"));
            }
        }
    }
});
