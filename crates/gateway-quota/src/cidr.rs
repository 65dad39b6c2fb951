//! IP networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a bare address).

use std::net::IpAddr;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `v6/n` or a bare address (a /32 or /128).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be between 0 and {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the network. An IPv4-mapped IPv6 address matches IPv4 networks.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Keeps the top `prefix` bits of a `bits`-wide address.
fn masked(value: u128, bits: u32, prefix: u8) -> u128 {
    let host_bits = bits.saturating_sub(u32::from(prefix));
    if host_bits >= 128 { 0 } else { (value >> host_bits) << host_bits }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_v4_networks() {
        let net = Cidr::parse("1.1.1.0/24").unwrap();
        assert!(net.contains(ip("1.1.1.200")));
        assert!(!net.contains(ip("1.1.2.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("9.9.9.9")));
        assert!(Cidr::parse("1.1.1.1").unwrap().contains(ip("1.1.1.1")));
        assert!(!Cidr::parse("1.1.1.1").unwrap().contains(ip("1.1.1.2")));
        assert!(net.contains(ip("::ffff:1.1.1.9")), "v4-mapped v6 matches");
        assert!(!net.contains(ip("::1")));
    }

    #[test]
    fn matches_v6_networks() {
        let net = Cidr::parse("2001:db8::/32").unwrap();
        assert!(net.contains(ip("2001:db8:1::5")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("fe80::1")));
    }

    #[test]
    fn rejects_bad_blocks() {
        assert!(Cidr::parse("1.1.1.0/33").is_err());
        assert!(Cidr::parse("1.1.1/24").is_err());
        assert!(Cidr::parse("abc").is_err());
        assert!(Cidr::parse("::/129").is_err());
        assert!(Cidr::parse("10.0.0.0/x").is_err());
    }
}
