//! The networks callers come from (public prefixes with their geo and AS enrichment) and
//! the Azure regions.

use std::net::IpAddr;

/// A network callers come from, with the enrichment Elastic would add (`source.geo.*`,
/// `source.as.*`).
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// First two octets (IPv4) or first three segments (IPv6).
    pub prefix: NetPrefix,
    pub city: &'static str,
    pub region: &'static str,
    pub country_iso: &'static str,
    pub country: &'static str,
    pub asn: u32,
    pub as_org: &'static str,
    pub lat: f32,
    pub lon: f32,
    pub class: NetClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetPrefix {
    V4([u8; 2]),
    V6([u16; 3]),
}

/// Who uses a network: Azure datacentres (workloads), ISPs (people), hosting (attackers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetClass {
    Azure,
    Isp,
    Hosting,
}

macro_rules! net {
    ($p:expr, $city:literal, $reg:literal, $iso:literal, $country:literal, $asn:literal, $org:literal, $lat:literal, $lon:literal, $class:ident) => {
        Network {
            prefix: $p,
            city: $city,
            region: $reg,
            country_iso: $iso,
            country: $country,
            asn: $asn,
            as_org: $org,
            lat: $lat,
            lon: $lon,
            class: NetClass::$class,
        }
    };
}

/// Public, globally routable prefixes only (no documentation, private or CGNAT ranges).
pub const NETWORKS: &[Network] = &[
    net!(
        NetPrefix::V4([20, 61]),
        "Amsterdam",
        "North Holland",
        "NL",
        "Netherlands",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        52.3759,
        4.8975,
        Azure
    ),
    net!(
        NetPrefix::V4([40, 114]),
        "Boydton",
        "Virginia",
        "US",
        "United States",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        36.6676,
        -78.3875,
        Azure
    ),
    net!(
        NetPrefix::V4([52, 178]),
        "Dublin",
        "Leinster",
        "IE",
        "Ireland",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        53.3382,
        -6.2591,
        Azure
    ),
    net!(
        NetPrefix::V4([104, 40]),
        "San Jose",
        "California",
        "US",
        "United States",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        37.3388,
        -121.8914,
        Azure
    ),
    net!(
        NetPrefix::V4([51, 105]),
        "London",
        "England",
        "GB",
        "United Kingdom",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        51.5072,
        -0.1276,
        Azure
    ),
    net!(
        NetPrefix::V6([0x2a01, 0x0111, 0xf400]),
        "Amsterdam",
        "North Holland",
        "NL",
        "Netherlands",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        52.3759,
        4.8975,
        Azure
    ),
    net!(
        NetPrefix::V6([0x2603, 0x1020, 0x0201]),
        "Dublin",
        "Leinster",
        "IE",
        "Ireland",
        8075,
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        53.3382,
        -6.2591,
        Azure
    ),
    net!(
        NetPrefix::V4([86, 128]),
        "Manchester",
        "England",
        "GB",
        "United Kingdom",
        2856,
        "British Telecommunications PLC",
        53.4808,
        -2.2426,
        Isp
    ),
    net!(
        NetPrefix::V4([89, 160]),
        "Linkoping",
        "Ostergotland County",
        "SE",
        "Sweden",
        29518,
        "Bredband2 AB",
        58.4167,
        15.6167,
        Isp
    ),
    net!(
        NetPrefix::V4([73, 15]),
        "Chicago",
        "Illinois",
        "US",
        "United States",
        7922,
        "COMCAST-7922",
        41.8781,
        -87.6298,
        Isp
    ),
    net!(
        NetPrefix::V4([91, 64]),
        "Berlin",
        "Land Berlin",
        "DE",
        "Germany",
        3209,
        "Vodafone GmbH",
        52.5200,
        13.4050,
        Isp
    ),
    net!(
        NetPrefix::V4([84, 26]),
        "Lyon",
        "Auvergne-Rhone-Alpes",
        "FR",
        "France",
        3215,
        "Orange S.A.",
        45.7640,
        4.8357,
        Isp
    ),
    net!(
        NetPrefix::V4([126, 75]),
        "Tokyo",
        "Tokyo",
        "JP",
        "Japan",
        17676,
        "SoftBank Corp.",
        35.6762,
        139.6503,
        Isp
    ),
    net!(
        NetPrefix::V4([24, 48]),
        "Toronto",
        "Ontario",
        "CA",
        "Canada",
        812,
        "Rogers Communications Canada Inc.",
        43.6532,
        -79.3832,
        Isp
    ),
    net!(
        NetPrefix::V6([0x2a02, 0xcf40, 0x0015]),
        "Oslo",
        "Oslo",
        "NO",
        "Norway",
        29695,
        "Altibox AS",
        59.9139,
        10.7522,
        Isp
    ),
    net!(
        NetPrefix::V6([0x2601, 0x0240, 0x8a01]),
        "Chicago",
        "Illinois",
        "US",
        "United States",
        7922,
        "COMCAST-7922",
        41.8781,
        -87.6298,
        Isp
    ),
    net!(
        NetPrefix::V6([0x2a00, 0x23c5, 0x6c12]),
        "Manchester",
        "England",
        "GB",
        "United Kingdom",
        2856,
        "British Telecommunications PLC",
        53.4808,
        -2.2426,
        Isp
    ),
    net!(
        NetPrefix::V4([146, 70]),
        "Bucharest",
        "Bucuresti",
        "RO",
        "Romania",
        9009,
        "M247 Europe SRL",
        44.4268,
        26.1025,
        Hosting
    ),
    net!(
        NetPrefix::V4([167, 99]),
        "North Bergen",
        "New Jersey",
        "US",
        "United States",
        14061,
        "DIGITALOCEAN-ASN",
        40.7930,
        -74.0247,
        Hosting
    ),
    net!(
        NetPrefix::V4([5, 39]),
        "Roubaix",
        "Hauts-de-France",
        "FR",
        "France",
        16276,
        "OVH SAS",
        50.6942,
        3.1746,
        Hosting
    ),
    net!(
        NetPrefix::V6([0x2a01, 0x04f8, 0x0c17]),
        "Falkenstein",
        "Saxony",
        "DE",
        "Germany",
        24940,
        "Hetzner Online GmbH",
        50.4779,
        12.3713,
        Hosting
    ),
];

/// One caller address and the network it belongs to.
#[derive(Debug, Clone)]
pub struct IpInfo {
    pub addr: IpAddr,
    /// As Key Vault writes it (IPv6 in lower case, compressed).
    pub text: String,
    /// Index into [`NETWORKS`], or `None` for an address given by the user.
    pub net: Option<usize>,
}

/// Azure region: ARM name.
pub const REGIONS: &[&str] = &[
    "westeurope",
    "northeurope",
    "eastus",
    "eastus2",
    "westus2",
    "uksouth",
    "centralus",
    "southeastasia",
    "australiaeast",
    "japaneast",
];

pub(super) const REGION_SHORT: &[&str] = &[
    "weu", "neu", "eus", "eus2", "wus2", "uks", "cus", "sea", "aue", "jpe",
];
