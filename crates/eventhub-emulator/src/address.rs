//! Link addresses: `$management`, `$cbs`, a hub, a partition of a hub, a consumer group's
//! partition; with or without the `amqps://host/` prefix clients put in front.

/// The claims-based security node.
pub const CBS_ADDRESS: &str = "$cbs";
/// The management node.
pub const MANAGEMENT_ADDRESS: &str = "$management";

/// Strips `amqps://host/` or `sb://host/` and surrounding slashes.
pub fn entity_path(address: &str) -> &str {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => address,
    };
    path.trim_matches('/')
}

/// A parsed link address.
#[derive(Debug, PartialEq, Eq)]
pub enum Address<'a> {
    /// `$management`
    Management,
    /// `$cbs`
    Cbs,
    /// `<hub>`
    Hub(&'a str),
    /// `<hub>/Partitions/<id>`
    Partition(&'a str, &'a str),
    /// `<hub>/ConsumerGroups/<cg>/Partitions/<id>`
    Consumer(&'a str, &'a str, &'a str),
    /// Anything else.
    Unknown,
}

/// Parses a link address.
pub fn parse_address(address: &str) -> Address<'_> {
    let path = entity_path(address);
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [node] if *node == MANAGEMENT_ADDRESS => Address::Management,
        [node] if *node == CBS_ADDRESS => Address::Cbs,
        [hub] if !hub.is_empty() => Address::Hub(hub),
        [hub, p, id] if p.eq_ignore_ascii_case("Partitions") => Address::Partition(hub, id),
        [hub, c, cg, p, id]
            if c.eq_ignore_ascii_case("ConsumerGroups") && p.eq_ignore_ascii_case("Partitions") =>
        {
            Address::Consumer(hub, cg, id)
        }
        _ => Address::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(parse_address("$management"), Address::Management);
        assert_eq!(parse_address("$cbs"), Address::Cbs);
        assert_eq!(parse_address("weather"), Address::Hub("weather"));
        assert_eq!(
            parse_address("amqps://localhost/weather/Partitions/3"),
            Address::Partition("weather", "3")
        );
        assert_eq!(
            parse_address("sb://h:5672/weather/ConsumerGroups/$Default/Partitions/0"),
            Address::Consumer("weather", "$Default", "0")
        );
        assert_eq!(parse_address("a/b"), Address::Unknown);
        assert_eq!(parse_address(""), Address::Unknown);
    }
}
