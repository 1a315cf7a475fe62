//! The simulated estate: tenant, subscriptions, vaults, users, service principals, managed
//! identities, client applications and the networks callers come from. Built once from the
//! seed; every event refers into it by index, so records are rendered from pre-built strings.

mod catalog;
mod networks;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::GenConfig;
use crate::fmt::guid_string;
use crate::rng::{Cumulative, Rng};

use catalog::{CERTS, ENVS, FIRST, KEYS, LAST, SECRETS, WORKLOADS};
pub use catalog::{CLIENTS, Profile, WORKLOAD_AGENTS};
use networks::REGION_SHORT;
pub use networks::{IpInfo, NETWORKS, NetClass, NetPrefix, REGIONS};

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

/// One principal that calls Key Vault (what [`EventRef::ident`](crate::EventRef::ident) returns).
#[derive(Debug, Clone)]
pub struct Ident {
    pub(crate) kind: Kind,
    pub upn: Option<String>,
    pub oid: String,
    pub app_id: String,
    pub(crate) appidacr: &'static str,
    pub(crate) mirid: Option<String>,
    /// Index into [`CLIENTS`] for users.
    pub(crate) client: usize,
    /// Own user agent for workloads (index into [`WORKLOAD_AGENTS`]).
    pub(crate) agent: usize,
    /// Workloads that send their app id as `clientInfo` instead of a user agent.
    pub(crate) guid_client_info: bool,
    pub(crate) ips: Vec<u32>,
    pub(crate) vaults: Vec<u32>,
    pub(crate) profile: Profile,
    /// Tokens carry `idtyp` (newer tokens) and `xms_az_nwperimid: []`.
    pub(crate) idtyp: bool,
    pub(crate) nwperim: bool,
    pub(crate) amr: &'static str,
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
    // Only the tests read it: they check the resource id agrees.
    #[cfg_attr(not(test), allow(dead_code))]
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
    pub(crate) pick: Cumulative,
}

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
