//! The simulated estate: tenant, subscriptions, vaults, users, service principals, managed
//! identities, client applications and the networks callers come from. Built once from the
//! seed; every event refers into it by index, so records are rendered from pre-built strings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::GenConfig;
use crate::fmt::guid_string;
use crate::ops::Op;
use crate::rng::{Cumulative, Rng};

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

const REGION_SHORT: &[&str] = &[
    "weu", "neu", "eus", "eus2", "wus2", "uks", "cus", "sea", "aue", "jpe",
];

/// A public client application used by people (first-party Microsoft app ids).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub name: &'static str,
    pub app_id: &'static str,
    pub agents: &'static [&'static str],
}

pub const CLIENTS: &[Client] = &[
    Client {
        name: "Azure CLI",
        app_id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        agents: &[
            "AZURECLI/2.61.0 (DEB) azsdk-python-core/1.30.2 Python/3.11.8 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)",
            "AZURECLI/2.63.0 (MSI) azsdk-python-core/1.30.2 Python/3.11.8 (Windows-10-10.0.22631-SP0)",
            "AZURECLI/2.74.0 (HOMEBREW) azsdk-python-core/1.31.0 Python/3.12.10 (macOS-14.5-arm64-arm-64bit)",
        ],
    },
    Client {
        name: "Azure Portal",
        app_id: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        agents: &[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        ],
    },
    Client {
        name: "Azure PowerShell",
        app_id: "1950a258-227b-4e31-a9cf-717495945fc2",
        agents: &[
            "FxVersion/8.0.624.26715 OSName/Windows OSVersion/Microsoft.Windows.10.0.22631 Microsoft.Azure.PowerShell.Cmdlets.KeyVault/6.0.1",
            "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.6; Microsoft Windows 10.0.22631)",
        ],
    },
    Client {
        name: "Visual Studio Code",
        app_id: "aebc6443-996d-45c2-90f0-388ff96faa56",
        agents: &[
            "azsdk-js-keyvault-secrets/4.8.0 core-rest-pipeline/1.16.0 Node/v20.14.0 OS/(x64-Linux-5.15.0-1064-azure)",
            "azsdk-python-keyvault-secrets/4.8.0 Python/3.11.9 (Windows-10-10.0.22631-SP0)",
        ],
    },
];

/// User agents of workloads (service principals and managed identities).
pub const WORKLOAD_AGENTS: &[&str] = &[
    "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.6; Linux 5.15.0-1064-azure #73-Ubuntu SMP)",
    "azsdk-java-azure-security-keyvault-secrets/4.8.3 (17.0.11; Linux; 5.15.0-1064-azure)",
    "azsdk-python-keyvault-secrets/4.8.0 Python/3.11.9 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)",
    "azsdk-go-azsecrets/v1.1.0 (go1.22.4; linux)",
    "azsdk-net-Security.KeyVault.Keys/4.6.0 (.NET 8.0.6; Linux 5.15.0-1064-azure #73-Ubuntu SMP)",
    "python/3.8.9 (Windows-10-10.0.19041-SP0) msrest/0.6.21 msrest_azure/0.6.4 azure-keyvault/7.0 Azure-SDK-For-Python",
];

/// What a background identity mostly does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// People: reads of every kind, some writes, vault management through ARM.
    Person,
    /// Applications reading their secrets.
    AppReader,
    /// Disk / storage encryption: wrap and unwrap, many calls, few reads.
    Crypto,
    /// Code signing or token signing.
    Signer,
    /// Workload with a managed identity reading secrets and certificates.
    Workload,
}

impl Profile {
    pub fn ops(self) -> &'static [(Op, u32)] {
        match self {
            Profile::Person => &[
                (Op::SecretGet, 40),
                (Op::SecretList, 14),
                (Op::SecretListVersions, 3),
                (Op::SecretSet, 4),
                (Op::SecretDelete, 1),
                (Op::SecretListDeleted, 1),
                (Op::SecretGetDeleted, 1),
                (Op::KeyGet, 6),
                (Op::KeyList, 4),
                (Op::KeyListVersions, 1),
                (Op::KeyListDeleted, 1),
                (Op::KeyGetDeleted, 1),
                (Op::KeyCreate, 1),
                (Op::CertificateGet, 5),
                (Op::CertificateList, 4),
                (Op::CertificateListVersions, 1),
                (Op::CertificateListDeleted, 1),
                (Op::CertificateGetDeleted, 1),
                (Op::CertificatePolicyGet, 2),
                (Op::CertificateContactsGet, 1),
                (Op::CertificateIssuerGet, 1),
                (Op::CertificateIssuersList, 1),
                (Op::CertificateCreate, 1),
                (Op::VaultGet, 10),
                (Op::VaultPut, 1),
            ],
            Profile::AppReader => &[
                (Op::SecretGet, 85),
                (Op::SecretList, 4),
                (Op::CertificateGet, 6),
                (Op::KeyGet, 4),
                (Op::SecretSet, 1),
            ],
            Profile::Crypto => &[
                (Op::KeyUnwrap, 55),
                (Op::KeyWrap, 30),
                (Op::KeyGet, 10),
                (Op::KeyDecrypt, 5),
            ],
            Profile::Signer => &[(Op::KeySign, 75), (Op::KeyVerify, 8), (Op::KeyGet, 17)],
            Profile::Workload => &[
                (Op::SecretGet, 72),
                (Op::KeyUnwrap, 12),
                (Op::CertificateGet, 10),
                (Op::KeyGet, 6),
            ],
        }
    }

    /// Non-read operations of the profile, used when an identity has used up its reads for
    /// the minute.
    pub fn fallback(self) -> Option<Op> {
        match self {
            Profile::Crypto | Profile::Workload => Some(Op::KeyUnwrap),
            Profile::Signer => Some(Op::KeySign),
            _ => None,
        }
    }
}

/// Kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    ServicePrincipal,
    ManagedIdentity,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServicePrincipal => "service_principal",
            Kind::ManagedIdentity => "managed_identity",
        }
    }
}

/// One principal that calls Key Vault.
#[derive(Debug, Clone)]
pub struct Ident {
    pub kind: Kind,
    pub upn: Option<String>,
    pub oid: String,
    pub app_id: String,
    pub appidacr: &'static str,
    pub mirid: Option<String>,
    /// Index into [`CLIENTS`] for users.
    pub client: usize,
    /// Own user agent for workloads (index into [`WORKLOAD_AGENTS`]).
    pub agent: usize,
    /// Workloads that send their app id as `clientInfo` instead of a user agent.
    pub guid_client_info: bool,
    pub ips: Vec<u32>,
    pub vaults: Vec<u32>,
    pub profile: Profile,
    /// Tokens carry `idtyp` (newer tokens) and `xms_az_nwperimid: []`.
    pub idtyp: bool,
    pub nwperim: bool,
    pub amr: &'static str,
}

/// Vault settings that `VaultGet` reports in `properties.properties`.
#[derive(Debug, Clone)]
pub struct VaultInfo {
    /// Lower case, as used in URLs.
    pub name: String,
    pub name_upper: String,
    pub sub: String,
    pub sub_upper: String,
    /// As created (mixed case), used in ARM URLs.
    pub rg: String,
    pub rg_upper: String,
    pub region: usize,
    /// `/SUBSCRIPTIONS/.../VAULTS/NAME` (or `.../MANAGEDHSMS/NAME`).
    pub resource_id: String,
    /// `_ResourceId` as Log Analytics writes it: lower case.
    pub resource_id_lower: String,
    pub hsm: bool,
    pub premium: bool,
    pub rbac: bool,
    pub purge_protection: bool,
    pub disk_encryption: bool,
    pub soft_delete_days: u32,
    pub secrets: Vec<String>,
    pub keys: Vec<(String, &'static str, u32)>,
    pub certs: Vec<String>,
}

/// The whole simulated estate.
#[derive(Debug, Clone)]
pub struct World {
    pub tenant: String,
    /// `iss` claim of app tokens: `https://sts.windows.net/<tenant>/`.
    pub issuer: String,
    pub domain: String,
    pub vaults: Vec<VaultInfo>,
    pub hsms: Vec<VaultInfo>,
    pub idents: Vec<Ident>,
    /// Background identities are `0..background`; the rest belong to scenarios.
    pub background: usize,
    /// Addresses `0..background_ips` belong to background identities.
    pub background_ips: usize,
    pub ips: Vec<IpInfo>,
    /// Weighted pick of a background identity.
    pub pick: Cumulative,
}

const FIRST: &[&str] = &[
    "adele",
    "alex",
    "allan",
    "bianca",
    "christie",
    "debra",
    "diego",
    "emily",
    "enrico",
    "grady",
    "henrietta",
    "irvin",
    "isaiah",
    "johanna",
    "joni",
    "lee",
    "lidia",
    "lynne",
    "megan",
    "miriam",
    "nestor",
    "patti",
    "pradeep",
    "priya",
    "raul",
    "sanjay",
    "sofia",
    "tomas",
    "wei",
    "yuki",
    "amara",
    "bjorn",
    "chloe",
    "dmitri",
    "fatima",
    "gustav",
    "hana",
    "ivan",
    "jamal",
    "kenji",
];
const LAST: &[&str] = &[
    "vance",
    "wilber",
    "deyoung",
    "seiler",
    "cline",
    "zrinski",
    "soto",
    "braun",
    "gonzalez",
    "archie",
    "cleveland",
    "lopez",
    "brown",
    "lauer",
    "sherman",
    "gu",
    "holloway",
    "grey",
    "bowen",
    "nguyen",
    "wilke",
    "fernandez",
    "gupta",
    "patel",
    "mendes",
    "okafor",
    "lindqvist",
    "tanaka",
    "kowalski",
    "ibrahim",
    "haddad",
    "moreau",
    "fischer",
    "rossi",
    "novak",
    "silva",
];
const WORKLOADS: &[&str] = &[
    "payments", "billing", "identity", "webapp", "data", "ml", "shared", "infra", "aks", "sql",
    "backup", "crm", "hr", "api", "etl", "search", "iot", "reports", "orders", "mobile",
];
const ENVS: &[&str] = &["prod", "dev", "test", "stg", "qa", "uat"];
const SECRETS: &[&str] = &[
    "db-password",
    "sql-connection-string",
    "storage-account-key",
    "jwt-signing-secret",
    "redis-password",
    "sendgrid-api-key",
    "servicebus-connection",
    "cosmos-primary-key",
    "github-pat",
    "appinsights-connection-string",
    "client-secret",
    "smtp-password",
    "stripe-api-key",
    "webhook-hmac",
    "admin-password",
];
const KEYS: &[(&str, &str, u32)] = &[
    ("disk-encryption-kek", "RSA", 2048),
    ("cmk-storage", "RSA", 3072),
    ("token-signing", "EC", 256),
    ("data-protection", "RSA", 2048),
    ("tde-protector", "RSA", 4096),
    ("backup-kek", "RSA", 2048),
];
const CERTS: &[&str] = &[
    "wildcard-contoso-com",
    "api-gateway-tls",
    "sso-signing",
    "mtls-client",
    "ingress-tls",
];

fn guid(rng: &mut Rng) -> String {
    guid_string(rng.u128(), false)
}

impl World {
    /// Builds the estate for a configuration (depends on the seed and sizes only).
    pub fn build(cfg: &GenConfig) -> World {
        let mut rng = Rng::derive(cfg.seed, 1);
        let tenant = guid(&mut rng);
        let domain = [
            "contoso.com",
            "fabrikam.com",
            "northwindtraders.com",
            "tailspintoys.com",
        ][rng.index(4)]
        .to_string();
        let mut ips: Vec<IpInfo> = Vec::new();

        // Subscriptions and resource groups.
        let n_vaults = cfg.vaults.max(1);
        let n_subs = (n_vaults / 6).clamp(1, 12);
        let subs: Vec<String> = (0..n_subs).map(|_| guid(&mut rng)).collect();
        let mut used_names = std::collections::HashSet::new();
        let mut vaults = Vec::with_capacity(n_vaults);
        for i in 0..n_vaults {
            let sub = subs[i % n_subs].clone();
            let workload = WORKLOADS[rng.index(WORKLOADS.len())];
            let env = ENVS[rng.index(ENVS.len())];
            let region = rng.index(REGIONS.len());
            let rg = format!("rg-{workload}-{env}");
            let mut name = match rng.below(3) {
                0 => format!("kv-{workload}-{env}-{}", REGION_SHORT[region]),
                1 => format!(
                    "{}-{workload}-{env}",
                    &domain[..domain.find('.').unwrap_or(3)]
                ),
                _ => format!("kv{workload}{env}{:03}", rng.below(1000)),
            };
            name.truncate(21);
            while !used_names.insert(name.clone()) {
                name.truncate(20);
                name.push(char::from(b'a' + rng.below(26) as u8));
            }
            vaults.push(make_vault(&mut rng, name, sub, rg, region, false));
        }
        let mut hsms = Vec::new();
        for i in 0..2 {
            let sub = subs[i % n_subs].clone();
            let name = format!("mhsm-{}-{}", ["corp", "pay"][i], ENVS[rng.index(2)]);
            let region = rng.index(3);
            hsms.push(make_vault(
                &mut rng,
                name,
                sub,
                "rg-hsm".into(),
                region,
                true,
            ));
        }

        let mut idents = Vec::new();
        let mut weights: Vec<u64> = Vec::new();
        let mut upns = std::collections::HashSet::new();
        let class_total = |n: usize| n.max(1) as u64;
        // Users: about 45 % of identified traffic, skewed towards a few active admins.
        for i in 0..cfg.users {
            let id = make_user(&mut rng, &domain, &mut upns, &vaults, cfg, &mut ips);
            idents.push(id);
            let w = 1_000_000 / (i as u64 + 4) + rng.below(50_000);
            weights.push(w);
        }
        let user_sum: u64 = weights.iter().sum::<u64>().max(1);
        for w in weights.iter_mut() {
            *w = *w * 450_000_000 / user_sum / class_total(0);
        }
        let mut sp_weights = Vec::new();
        for _ in 0..cfg.service_principals {
            let id = make_workload(&mut rng, Kind::ServicePrincipal, &vaults, cfg, &mut ips);
            idents.push(id);
            sp_weights.push(200_000 + rng.below(800_000));
        }
        let sp_sum: u64 = sp_weights.iter().sum::<u64>().max(1);
        weights.extend(sp_weights.iter().map(|w| w * 350_000_000 / sp_sum));
        let mut mi_weights = Vec::new();
        for _ in 0..cfg.managed_identities {
            let id = make_workload(&mut rng, Kind::ManagedIdentity, &vaults, cfg, &mut ips);
            idents.push(id);
            mi_weights.push(200_000 + rng.below(800_000));
        }
        let mi_sum: u64 = mi_weights.iter().sum::<u64>().max(1);
        weights.extend(mi_weights.iter().map(|w| w * 200_000_000 / mi_sum));
        let background = idents.len();
        World {
            background_ips: ips.len(),
            issuer: format!("https://sts.windows.net/{tenant}/"),
            tenant,
            domain,
            vaults,
            hsms,
            idents,
            background,
            ips,
            pick: Cumulative::new(weights),
        }
    }

    /// Adds an identity used only by a scenario (so background traffic never adds to it).
    pub fn add_scenario_identity(&mut self, rng: &mut Rng, kind: Kind, cfg: &GenConfig) -> u32 {
        let mut upns: std::collections::HashSet<String> =
            self.idents.iter().filter_map(|i| i.upn.clone()).collect();
        let domain = self.domain.clone();
        let id = match kind {
            Kind::User => make_user(rng, &domain, &mut upns, &self.vaults, cfg, &mut self.ips),
            k => make_workload(rng, k, &self.vaults, cfg, &mut self.ips),
        };
        self.idents.push(id);
        (self.idents.len() - 1) as u32
    }

    /// Adds (or finds) an address, returning its index.
    pub fn intern_ip(&mut self, addr: IpAddr) -> u32 {
        let addr = kvsentry_model::net::canonical(addr);
        if let Some(i) = self.ips.iter().position(|i| i.addr == addr) {
            return i as u32;
        }
        self.ips.push(IpInfo {
            addr,
            text: addr.to_string(),
            net: None,
        });
        (self.ips.len() - 1) as u32
    }

    /// A fresh address in a network of the given class (IPv6 with probability `v6`).
    pub fn new_ip(&mut self, rng: &mut Rng, class: NetClass, v6: f64) -> u32 {
        new_ip(rng, class, v6, &mut self.ips)
    }
}

fn new_ip(rng: &mut Rng, class: NetClass, v6: f64, ips: &mut Vec<IpInfo>) -> u32 {
    let want_v6 = rng.chance(v6);
    let candidates: Vec<usize> = NETWORKS
        .iter()
        .enumerate()
        .filter(|(_, n)| n.class == class && matches!(n.prefix, NetPrefix::V6(_)) == want_v6)
        .map(|(i, _)| i)
        .collect();
    let net = candidates
        .get(rng.index(candidates.len()))
        .copied()
        .unwrap_or(0);
    loop {
        let addr = match NETWORKS[net].prefix {
            NetPrefix::V4([a, b]) => IpAddr::V4(Ipv4Addr::new(
                a,
                b,
                rng.range(0, 255) as u8,
                rng.range(1, 254) as u8,
            )),
            NetPrefix::V6([a, b, c]) => {
                // Interface ids of SLAAC / datacentre style, never all-zero.
                let r = rng.next_u64();
                IpAddr::V6(Ipv6Addr::new(
                    a,
                    b,
                    c,
                    (r >> 48) as u16 & 0x0fff,
                    (r >> 32) as u16,
                    (r >> 16) as u16,
                    r as u16,
                    rng.range(1, 0xfffe) as u16,
                ))
            }
        };
        if !ips.iter().any(|i| i.addr == addr) {
            ips.push(IpInfo {
                addr,
                text: addr.to_string(),
                net: Some(net),
            });
            return (ips.len() - 1) as u32;
        }
    }
}

fn make_vault(
    rng: &mut Rng,
    name: String,
    sub: String,
    rg: String,
    region: usize,
    hsm: bool,
) -> VaultInfo {
    let name_upper = name.to_ascii_uppercase();
    let sub_upper = sub.to_ascii_uppercase();
    let rg_upper = rg.to_ascii_uppercase();
    let kind = if hsm { "MANAGEDHSMS" } else { "VAULTS" };
    let resource_id = format!(
        "/SUBSCRIPTIONS/{sub_upper}/RESOURCEGROUPS/{rg_upper}/PROVIDERS/MICROSOFT.KEYVAULT/{kind}/{name_upper}"
    );
    let resource_id_lower = resource_id.to_ascii_lowercase();
    let mut secrets: Vec<String> = Vec::new();
    for _ in 0..rng.range(3, 12) {
        let base = SECRETS[rng.index(SECRETS.len())];
        let s = if rng.chance(0.3) {
            format!("{base}-{}", WORKLOADS[rng.index(WORKLOADS.len())])
        } else {
            base.to_string()
        };
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    let mut keys = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let k = KEYS[rng.index(KEYS.len())];
        if !keys.iter().any(|(n, _, _): &(String, _, _)| n == k.0) {
            keys.push((k.0.to_string(), k.1, k.2));
        }
    }
    let mut certs = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let c = CERTS[rng.index(CERTS.len())].to_string();
        if !certs.contains(&c) {
            certs.push(c);
        }
    }
    VaultInfo {
        name,
        name_upper,
        sub,
        sub_upper,
        rg,
        rg_upper,
        region,
        resource_id,
        resource_id_lower,
        hsm,
        premium: rng.chance(0.3),
        rbac: rng.chance(0.6),
        purge_protection: rng.chance(0.5),
        disk_encryption: rng.chance(0.3),
        soft_delete_days: [7, 30, 90, 90][rng.index(4)],
        secrets,
        keys,
        certs,
    }
}

fn pick_vaults(rng: &mut Rng, vaults: &[VaultInfo], n: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.min(vaults.len()) {
        let v = rng.index(vaults.len()) as u32;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

fn make_user(
    rng: &mut Rng,
    domain: &str,
    upns: &mut std::collections::HashSet<String>,
    vaults: &[VaultInfo],
    cfg: &GenConfig,
    ips: &mut Vec<IpInfo>,
) -> Ident {
    let upn = {
        let f = FIRST[rng.index(FIRST.len())];
        let l = LAST[rng.index(LAST.len())];
        let tenant_label = domain.split('.').next().unwrap_or("contoso");
        let base = match rng.below(40) {
            0 => format!("live.com#{f}.{l}@outlook.com"),
            1 => format!("{f}.{l}_partner.example.net#EXT#@{tenant_label}.onmicrosoft.com"),
            2..=5 => format!("adm-{f}{l}@{domain}"),
            _ => format!("{f}.{l}@{domain}"),
        };
        // Same name twice: a number before the '@', as directories do it.
        let mut candidate = base.clone();
        let mut n = 2;
        while upns.contains(&candidate) {
            candidate = match base.split_once('@') {
                Some((a, b)) => format!("{a}{n}@{b}"),
                None => format!("{base}{n}"),
            };
            n += 1;
        }
        upns.insert(candidate.clone());
        candidate
    };
    let client = rng.weighted(&[45, 25, 20, 10]);
    let n_ips = rng.range(1, 3) as usize;
    let ip_list = (0..n_ips)
        .map(|_| new_ip(rng, NetClass::Isp, cfg.ipv6_share, ips))
        .collect();
    let admin = upn.starts_with("adm-");
    let n_vaults = if admin {
        rng.range(3, 8)
    } else {
        rng.range(1, 3)
    } as usize;
    Ident {
        kind: Kind::User,
        upn: Some(upn),
        oid: guid(rng),
        app_id: CLIENTS[client].app_id.to_string(),
        appidacr: "0",
        mirid: None,
        client,
        agent: rng.index(CLIENTS[client].agents.len()),
        guid_client_info: false,
        ips: ip_list,
        vaults: pick_vaults(rng, vaults, n_vaults),
        profile: Profile::Person,
        idtyp: rng.chance(0.5),
        nwperim: rng.chance(0.3),
        amr: ["pwd", "mfa", "rsa", "pwd"][rng.index(4)],
    }
}

fn make_workload(
    rng: &mut Rng,
    kind: Kind,
    vaults: &[VaultInfo],
    cfg: &GenConfig,
    ips: &mut Vec<IpInfo>,
) -> Ident {
    let n_vaults = rng.range(1, 2) as usize;
    let vault_list = pick_vaults(rng, vaults, n_vaults);
    let profile = match (kind, rng.below(10)) {
        (Kind::ManagedIdentity, 0..=1) => Profile::Crypto,
        (Kind::ManagedIdentity, _) => Profile::Workload,
        (_, 0..=5) => Profile::AppReader,
        (_, 6..=8) => Profile::Crypto,
        _ => Profile::Signer,
    };
    let app_id = guid(rng);
    let mirid = if kind == Kind::ManagedIdentity {
        let v = &vaults[vault_list[0] as usize];
        let w = WORKLOADS[rng.index(WORKLOADS.len())];
        Some(if rng.chance(0.6) {
            format!(
                "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{w}-{}",
                v.sub,
                v.rg,
                rng.below(100)
            )
        } else {
            let (prov, ty) = [
                ("Microsoft.Web", "sites"),
                ("Microsoft.Compute", "virtualMachines"),
                ("Microsoft.ContainerService", "managedClusters"),
            ][rng.index(3)];
            format!(
                "/subscriptions/{}/resourcegroups/{}/providers/{prov}/{ty}/{w}-{}",
                v.sub,
                v.rg,
                rng.below(100)
            )
        })
    } else {
        None
    };
    let n_ips = rng.range(1, 2) as usize;
    let ip_list = (0..n_ips)
        .map(|_| new_ip(rng, NetClass::Azure, cfg.ipv6_share, ips))
        .collect();
    Ident {
        kind,
        upn: None,
        oid: guid(rng),
        app_id,
        appidacr: if kind == Kind::ManagedIdentity || rng.chance(0.3) {
            "2"
        } else {
            "1"
        },
        mirid,
        client: 0,
        // Key clients for crypto workloads, secret clients for the others.
        agent: if matches!(profile, Profile::Crypto | Profile::Signer) {
            4
        } else {
            [0, 1, 2, 3, 5][rng.index(5)]
        },
        guid_client_info: rng.chance(0.15),
        ips: ip_list,
        vaults: vault_list,
        profile,
        idtyp: true,
        nwperim: rng.chance(0.5),
        amr: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estate_is_realistic_and_consistent() {
        let cfg = GenConfig::default();
        let w = World::build(&cfg);
        assert_eq!(w.vaults.len(), 40);
        assert_eq!(w.idents.len(), 400);
        assert_eq!(w.background, 400);
        let subs: std::collections::HashSet<&str> =
            w.vaults.iter().map(|v| v.sub.as_str()).collect();
        assert_eq!(subs.len(), 6);
        for v in w.vaults.iter().chain(&w.hsms) {
            assert_eq!(v.resource_id, v.resource_id.to_ascii_uppercase());
            let parsed = kvsentry_model::Vault::from_resource_id(&v.resource_id);
            assert_eq!(parsed.name.as_deref(), Some(v.name_upper.as_str()));
            assert_eq!(
                parsed.subscription_id.as_deref(),
                Some(v.sub_upper.as_str())
            );
            assert_eq!(parsed.resource_group.as_deref(), Some(v.rg_upper.as_str()));
            assert_eq!(parsed.is_key_vault(), !v.hsm);
            assert!(v.name.len() <= 24 && v.name.len() >= 3, "{}", v.name);
            assert!(!v.secrets.is_empty() && !v.keys.is_empty() && !v.certs.is_empty());
        }
        let names: std::collections::HashSet<&str> =
            w.vaults.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names.len(), w.vaults.len());
        let upns: Vec<&str> = w.idents.iter().filter_map(|i| i.upn.as_deref()).collect();
        assert_eq!(upns.len(), 300);
        assert_eq!(
            upns.iter().collect::<std::collections::HashSet<_>>().len(),
            300
        );
        for ip in &w.ips {
            assert!(kvsentry_model::net::is_global(ip.addr), "{}", ip.text);
            assert_eq!(ip.text, ip.text.to_ascii_lowercase());
        }
        let sp = w
            .idents
            .iter()
            .filter(|i| i.kind == Kind::ServicePrincipal)
            .count();
        let mi = w.idents.iter().filter(|i| i.mirid.is_some()).count();
        assert_eq!((sp, mi), (60, 40));
        assert!(
            w.idents
                .iter()
                .filter(|i| i.kind != Kind::User)
                .all(|i| i.upn.is_none())
        );
    }

    #[test]
    fn same_seed_same_estate() {
        let a = World::build(&GenConfig::default());
        let b = World::build(&GenConfig::default());
        assert_eq!(a.tenant, b.tenant);
        assert_eq!(a.vaults[7].resource_id, b.vaults[7].resource_id);
        let c = World::build(&GenConfig::default().seed(99));
        assert_ne!(a.tenant, c.tenant);
    }
}
