//! The fixed catalogues the estate is drawn from: client applications, workload user
//! agents, what identities mostly do, and the words names are made of.

use crate::ops::Op;

/// A public client application used by people (first-party Microsoft app ids).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub app_id: &'static str,
    pub agents: &'static [&'static str],
}

pub const CLIENTS: &[Client] = &[
    // Azure CLI
    Client {
        app_id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        agents: &[
            "AZURECLI/2.61.0 (DEB) azsdk-python-core/1.30.2 Python/3.11.8 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)",
            "AZURECLI/2.63.0 (MSI) azsdk-python-core/1.30.2 Python/3.11.8 (Windows-10-10.0.22631-SP0)",
            "AZURECLI/2.74.0 (HOMEBREW) azsdk-python-core/1.31.0 Python/3.12.10 (macOS-14.5-arm64-arm-64bit)",
        ],
    },
    // Azure Portal
    Client {
        app_id: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        agents: &[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        ],
    },
    // Azure PowerShell
    Client {
        app_id: "1950a258-227b-4e31-a9cf-717495945fc2",
        agents: &[
            "FxVersion/8.0.624.26715 OSName/Windows OSVersion/Microsoft.Windows.10.0.22631 Microsoft.Azure.PowerShell.Cmdlets.KeyVault/6.0.1",
            "azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.6; Microsoft Windows 10.0.22631)",
        ],
    },
    // Visual Studio Code
    Client {
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

pub(super) const FIRST: &[&str] = &[
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
pub(super) const LAST: &[&str] = &[
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
pub(super) const WORKLOADS: &[&str] = &[
    "payments", "billing", "identity", "webapp", "data", "ml", "shared", "infra", "aks", "sql",
    "backup", "crm", "hr", "api", "etl", "search", "iot", "reports", "orders", "mobile",
];
pub(super) const ENVS: &[&str] = &["prod", "dev", "test", "stg", "qa", "uat"];
pub(super) const SECRETS: &[&str] = &[
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
pub(super) const KEYS: &[(&str, &str, u32)] = &[
    ("disk-encryption-kek", "RSA", 2048),
    ("cmk-storage", "RSA", 3072),
    ("token-signing", "EC", 256),
    ("data-protection", "RSA", 2048),
    ("tde-protector", "RSA", 4096),
    ("backup-kek", "RSA", 2048),
];
pub(super) const CERTS: &[&str] = &[
    "wildcard-contoso-com",
    "api-gateway-tls",
    "sso-signing",
    "mtls-client",
    "ingress-tls",
];
