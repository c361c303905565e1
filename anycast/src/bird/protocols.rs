//! The table of `show protocols` (code 1002 rows): each protocol's name, kind, table, state,
//! since and info. A disabled protocol is `down`; an enabled static protocol is `up`; a BGP
//! protocol is `start` while it connects and `up` with info `Established` once the session is.

use super::reply::Reply;

/// One row of `show protocols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolStatus {
    /// The protocol's name.
    pub name: String,
    /// Its kind (`Static`, `BGP`, `BFD`, `Device`, ...).
    pub proto: String,
    /// Its table (`master4`, `---`).
    pub table: String,
    /// `up`, `down`, `start`, `stop`.
    pub state: String,
    /// Since when (as BIRD formats it).
    pub since: String,
    /// The rest (`Established`, `Active Socket: Connection refused`, ...).
    pub info: String,
}

impl ProtocolStatus {
    /// Enabled (anything but `down`: a disabled protocol is always `down`).
    pub fn is_enabled(&self) -> bool {
        self.state != "down"
    }

    /// A BGP protocol with an established session.
    pub fn is_established(&self) -> bool {
        self.state == "up" && self.info.starts_with("Established")
    }

    /// A BGP protocol.
    pub fn is_bgp(&self) -> bool {
        self.proto == "BGP"
    }
}

/// The rows of a `show protocols` reply; `Err` names the first row that does not parse.
pub fn parse_protocols(reply: &Reply) -> Result<Vec<ProtocolStatus>, String> {
    if reply.with_code(2002).next().is_none() {
        return Err(format!(
            "`show protocols` answered without its table header (code 2002): {:?}",
            reply.lines.first().map(|l| l.text.as_str()).unwrap_or("")
        ));
    }
    reply
        .with_code(1002)
        .map(|line| {
            let mut words = line.text.split_whitespace();
            let mut next = || words.next().map(str::to_owned);
            let row = (|| {
                Some(ProtocolStatus {
                    name: next()?,
                    proto: next()?,
                    table: next()?,
                    state: next()?,
                    since: next()?,
                    info: String::new(),
                })
            })();
            let mut row = row.ok_or_else(|| format!("protocol row too short: {:?}", line.text))?;
            row.info = words.collect::<Vec<_>>().join(" ");
            Ok(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::reply::ReplyReader;
    use super::*;

    const SHOW: &str = "\
2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     19:43:14.585  
 anycast4   Static     master4    up     19:44:57.895  
 anycast6   Static     master6    down   19:44:57.897  
 uplink4    BGP        ---        up     19:45:00.000  Established   
 uplink6    BGP        ---        start  19:45:00.000  Active        Socket: Connection refused
0000 
";

    fn reply(text: &str) -> Reply {
        let mut reader = ReplyReader::default();
        text.lines()
            .find_map(|l| reader.push(l).expect("line"))
            .expect("complete")
    }

    #[test]
    fn rows_give_state_and_info() {
        let rows = parse_protocols(&reply(SHOW)).expect("rows");
        assert_eq!(rows.len(), 5);
        assert!(rows[1].is_enabled() && !rows[2].is_enabled());
        assert!(rows[3].is_bgp() && rows[3].is_established());
        assert_eq!(rows[4].info, "Active Socket: Connection refused");
        assert!(!rows[4].is_established());
    }

    #[test]
    fn a_reply_without_the_table_header_is_refused() {
        assert!(parse_protocols(&reply("0000 \n")).is_err());
    }
}

/// One row of `show bfd sessions`: the neighbor address and BIRD's session state (`Up`,
/// `Down`, `Init`, `AdminDown`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdSession {
    /// The neighbor (the controller's `bfd_address`).
    pub address: std::net::IpAddr,
    /// BIRD's state of the session.
    pub state: String,
}

/// The sessions of a `show bfd sessions` reply (code 1020 lines that start with an address).
pub fn parse_bfd_sessions(reply: &Reply) -> Vec<BfdSession> {
    reply
        .with_code(1020)
        .filter_map(|line| {
            let mut words = line.text.split_whitespace();
            let address = words.next()?.parse().ok()?;
            let _interface = words.next()?;
            let state = words.next()?.to_owned();
            Some(BfdSession { address, state })
        })
        .collect()
}

#[cfg(test)]
mod bfd_tests {
    use super::super::reply::ReplyReader;
    use super::*;

    #[test]
    fn sessions_are_read_from_the_bfd_table() {
        let text = "1020-anycast_bfd:\n IP address                Interface  State      Since         Interval  Timeout\n 198.18.255.2              anycast-bird Up         19:45:05.767    0.100    0.300\n 2001:2:0:ff::2            anycast-bird Down       19:45:18.352    0.300    0.000\n0000 \n";
        let mut reader = ReplyReader::default();
        let reply = text
            .lines()
            .find_map(|l| reader.push(l).expect("line"))
            .expect("reply");
        let sessions = parse_bfd_sessions(&reply);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].address.to_string(), "198.18.255.2");
        assert_eq!(
            (sessions[0].state.as_str(), sessions[1].state.as_str()),
            ("Up", "Down")
        );
    }
}
