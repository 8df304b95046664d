//! Network address checks: IPv6 addresses (`is_valid_ipv6_address`, as Python's `ipaddress`
//! reads them, which is what DQX's UDF calls) and membership of a CIDR block
//! (`is_ipv4_address_in_cidr`, `is_ipv6_address_in_cidr`).

use super::super::expr::eval::text::{ipv4, ipv6};
use super::super::expr::{CastTo, Expr, Func, TextFn};
use super::{cast, err, formats, value_in, Body, ColumnCheck, FnError, MsgPart};

fn is_ipv6(c: &Expr) -> Expr {
    cast(c.clone(), CastTo::String).call(Func::Text(TextFn::IsIpv6))
}

/// `is_valid_ipv6_address`.
pub(super) fn valid_ipv6(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (c, cs, n) = (&col.c, col.cs.as_str(), col.n.as_str());
    Ok((
        format!("{n}_does_not_match_pattern_ipv6_address"),
        is_ipv6(c).not(),
        value_in(c, cs, "does not match pattern 'IPV6_ADDRESS'"),
    ))
}

/// The `cidr_block` argument: present, a non-empty string that `parse` reads as a `kind`
/// (`IPv4`, `IPv6`) block; with the block as written.
fn cidr_arg<'a, T>(
    col: &'a ColumnCheck<'_>,
    kind: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<(&'a str, T), FnError> {
    let cidr = col.args.req_str("cidr_block")?;
    if cidr.is_empty() {
        return Err(err(
            "cidr_block",
            "'cidr_block' must be a non-empty string.",
        ));
    }
    let block = parse(cidr).ok_or_else(|| {
        err(
            "cidr_block",
            format!("CIDR block '{cidr}' is not a valid {kind} CIDR block."),
        )
    })?;
    Ok((cidr, block))
}

/// An IPv4 CIDR block as DQX's `IPV4_CIDR_BLOCK` pattern reads it: an address and a prefix
/// length of 0–32 without leading zeros.
fn ipv4_cidr(s: &str) -> Option<(u32, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let ok = matches!(prefix.len(), 1 | 2)
        && prefix.bytes().all(|c| c.is_ascii_digit())
        && (prefix.len() == 1 || prefix.starts_with(['1', '2', '3']));
    let prefix: u8 = prefix.parse().ok().filter(|&p| ok && p <= 32)?;
    Some((ipv4(addr)?, prefix))
}

/// An IPv6 CIDR block as Python's `ipaddress.IPv6Network(block, strict=False)` reads it.
fn ipv6_cidr(s: &str) -> Option<(u128, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    if prefix.is_empty() || !prefix.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok().filter(|&p| p <= 128)?;
    Some((ipv6(addr)?, prefix))
}

/// The CIDR check's body: an invalid address (the address check's condition and message) fails
/// as such, a valid one outside the block with its own message.
fn in_block(
    col: &ColumnCheck<'_>,
    kind: &str,
    cidr: &str,
    (invalid, invalid_msg): (Expr, Vec<MsgPart>),
    inside: TextFn,
) -> Body {
    let (c, cs, n) = (&col.c, col.cs.as_str(), col.n.as_str());
    let inside = cast(c.clone(), CastTo::String).call(Func::Text(inside));
    (
        format!("{n}_is_not_{kind}_in_cidr"),
        invalid.clone().or(inside.not()),
        vec![MsgPart::When {
            cond: invalid,
            then: invalid_msg,
            otherwise: value_in(c, cs, &format!("is not in the CIDR block '{cidr}'")),
        }],
    )
}

/// `is_ipv4_address_in_cidr`: an invalid address fails with `is_valid_ipv4_address`' message,
/// a valid one outside the block with its own.
pub(super) fn ipv4_in_cidr(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (cidr, (net, prefix)) = cidr_arg(col, "IPv4", ipv4_cidr)?;
    let (_, invalid, invalid_msg) = formats::ipv4_pattern(col)?;
    let inside = TextFn::Ipv4InCidr { net, prefix };
    Ok(in_block(col, "ipv4", cidr, (invalid, invalid_msg), inside))
}

/// `is_ipv6_address_in_cidr`: as the IPv4 one, with `is_valid_ipv6_address`' message.
pub(super) fn ipv6_in_cidr(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (cidr, (net, prefix)) = cidr_arg(col, "IPv6", ipv6_cidr)?;
    let (_, invalid, invalid_msg) = valid_ipv6(col)?;
    let inside = TextFn::Ipv6InCidr { net, prefix };
    Ok(in_block(col, "ipv6", cidr, (invalid, invalid_msg), inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_as_dqx_accepts_them() {
        assert_eq!(ipv4_cidr("192.168.1.0/24"), Some((0xC0A8_0100, 24)));
        assert_eq!(ipv4_cidr("0.0.0.0/0"), Some((0, 0)));
        for bad in [
            "192.168.1.0",
            "192.168.1.0/33",
            "192.168.1.0/05",
            "1.2.3/8",
            "1.2.3.4/",
        ] {
            assert_eq!(ipv4_cidr(bad), None, "{bad}");
        }
        assert_eq!(ipv6_cidr("2001:db8::/32"), Some((0x2001_0db8 << 96, 32)));
        assert_eq!(ipv6_cidr("::/0"), Some((0, 0)));
        for bad in [
            "2001:db8::",
            "2001:db8::/129",
            "2001:db8::/x",
            "1.2.3.4/8",
            "::/",
        ] {
            assert_eq!(ipv6_cidr(bad), None, "{bad}");
        }
    }
}
