//! The Key Vault operations the generator emits, with what each one looks like on the wire.

/// What an operation acts on, which decides its request URI and `properties.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Vault,
    Secret,
    Key,
    Certificate,
}

/// The shape of the request path after the vault URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/secrets/<name>/` with `id` `/secrets/<name>/<version>`.
    Object,
    /// `/keys/<name>/` with `id` `/keys/<name>` (no version: KeyGet as Key Vault logs it).
    ObjectNoVersion,
    /// `/secrets` (list), no `id`.
    Collection,
    /// `/secrets/<name>/versions`, `id` `/secrets/<name>`.
    Versions,
    /// `/deletedsecrets`, no `id`.
    Deleted,
    /// `/certificates/contacts`: one fixed resource, `id` its URL.
    Fixed,
    /// `/keys/<name>/<version>/<suffix>`, `id` `/keys/<name>/<version>`.
    Crypto(&'static str),
    /// `/certificates/<name>/policy`.
    Policy,
    /// Management plane (`management.azure.com`), `id` the vault URL.
    Management,
}

/// Operations in the generated mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Authentication,
    VaultGet,
    VaultPut,
    SecretGet,
    SecretList,
    SecretListVersions,
    SecretListDeleted,
    SecretGetDeleted,
    SecretSet,
    SecretDelete,
    KeyGet,
    KeyList,
    KeyListVersions,
    KeyGetDeleted,
    KeyListDeleted,
    KeyCreate,
    KeySign,
    KeyVerify,
    KeyWrap,
    KeyUnwrap,
    KeyDecrypt,
    CertificateGet,
    CertificateList,
    CertificateListVersions,
    CertificateGetDeleted,
    CertificateListDeleted,
    CertificatePolicyGet,
    CertificateContactsGet,
    CertificateIssuerGet,
    CertificateIssuersList,
    CertificateCreate,
}

/// The 20 read operations of the Elastic proposal "excessive secret or key retrieval".
pub const READ_OPERATIONS: [&str; 20] = [
    "VaultGet",
    "KeyGet",
    "KeyList",
    "KeyListVersions",
    "KeyGetDeleted",
    "KeyListDeleted",
    "SecretGet",
    "SecretList",
    "SecretListVersions",
    "SecretGetDeleted",
    "SecretListDeleted",
    "CertificateGet",
    "CertificateList",
    "CertificateListVersions",
    "CertificateGetDeleted",
    "CertificateListDeleted",
    "CertificatePolicyGet",
    "CertificateContactsGet",
    "CertificateIssuerGet",
    "CertificateIssuersList",
];

/// True when `name` is one of [`READ_OPERATIONS`].
pub fn is_read_operation(name: &str) -> bool {
    READ_OPERATIONS.contains(&name)
}

impl Op {
    /// Every operation, in declaration order.
    #[cfg(test)]
    pub const ALL: [Op; 31] = [
        Op::Authentication,
        Op::VaultGet,
        Op::VaultPut,
        Op::SecretGet,
        Op::SecretList,
        Op::SecretListVersions,
        Op::SecretListDeleted,
        Op::SecretGetDeleted,
        Op::SecretSet,
        Op::SecretDelete,
        Op::KeyGet,
        Op::KeyList,
        Op::KeyListVersions,
        Op::KeyGetDeleted,
        Op::KeyListDeleted,
        Op::KeyCreate,
        Op::KeySign,
        Op::KeyVerify,
        Op::KeyWrap,
        Op::KeyUnwrap,
        Op::KeyDecrypt,
        Op::CertificateGet,
        Op::CertificateList,
        Op::CertificateListVersions,
        Op::CertificateGetDeleted,
        Op::CertificateListDeleted,
        Op::CertificatePolicyGet,
        Op::CertificateContactsGet,
        Op::CertificateIssuerGet,
        Op::CertificateIssuersList,
        Op::CertificateCreate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Authentication => "Authentication",
            Op::VaultGet => "VaultGet",
            Op::VaultPut => "VaultPut",
            Op::SecretGet => "SecretGet",
            Op::SecretList => "SecretList",
            Op::SecretListVersions => "SecretListVersions",
            Op::SecretListDeleted => "SecretListDeleted",
            Op::SecretGetDeleted => "SecretGetDeleted",
            Op::SecretSet => "SecretSet",
            Op::SecretDelete => "SecretDelete",
            Op::KeyGet => "KeyGet",
            Op::KeyList => "KeyList",
            Op::KeyListVersions => "KeyListVersions",
            Op::KeyGetDeleted => "KeyGetDeleted",
            Op::KeyListDeleted => "KeyListDeleted",
            Op::KeyCreate => "KeyCreate",
            Op::KeySign => "KeySign",
            Op::KeyVerify => "KeyVerify",
            Op::KeyWrap => "KeyWrap",
            Op::KeyUnwrap => "KeyUnwrap",
            Op::KeyDecrypt => "KeyDecrypt",
            Op::CertificateGet => "CertificateGet",
            Op::CertificateList => "CertificateList",
            Op::CertificateListVersions => "CertificateListVersions",
            Op::CertificateGetDeleted => "CertificateGetDeleted",
            Op::CertificateListDeleted => "CertificateListDeleted",
            Op::CertificatePolicyGet => "CertificatePolicyGet",
            Op::CertificateContactsGet => "CertificateContactsGet",
            Op::CertificateIssuerGet => "CertificateIssuerGet",
            Op::CertificateIssuersList => "CertificateIssuersList",
            Op::CertificateCreate => "CertificateCreate",
        }
    }

    /// One of the 20 read operations of the seed rule.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Op::VaultGet
                | Op::SecretGet
                | Op::SecretList
                | Op::SecretListVersions
                | Op::SecretListDeleted
                | Op::SecretGetDeleted
                | Op::KeyGet
                | Op::KeyList
                | Op::KeyListVersions
                | Op::KeyGetDeleted
                | Op::KeyListDeleted
                | Op::CertificateGet
                | Op::CertificateList
                | Op::CertificateListVersions
                | Op::CertificateGetDeleted
                | Op::CertificateListDeleted
                | Op::CertificatePolicyGet
                | Op::CertificateContactsGet
                | Op::CertificateIssuerGet
                | Op::CertificateIssuersList
        )
    }

    /// Vault (management) operations carry the long URI claim keys.
    pub fn is_management(self) -> bool {
        matches!(self, Op::VaultGet | Op::VaultPut)
    }

    pub fn target(self) -> Target {
        match self {
            Op::Authentication
            | Op::SecretGet
            | Op::SecretList
            | Op::SecretListVersions
            | Op::SecretListDeleted
            | Op::SecretGetDeleted
            | Op::SecretSet
            | Op::SecretDelete => Target::Secret,
            Op::VaultGet | Op::VaultPut => Target::Vault,
            Op::KeyGet
            | Op::KeyList
            | Op::KeyListVersions
            | Op::KeyGetDeleted
            | Op::KeyListDeleted
            | Op::KeyCreate
            | Op::KeySign
            | Op::KeyVerify
            | Op::KeyWrap
            | Op::KeyUnwrap
            | Op::KeyDecrypt => Target::Key,
            Op::CertificateGet
            | Op::CertificateList
            | Op::CertificateListVersions
            | Op::CertificateGetDeleted
            | Op::CertificateListDeleted
            | Op::CertificatePolicyGet
            | Op::CertificateContactsGet
            | Op::CertificateIssuerGet
            | Op::CertificateIssuersList
            | Op::CertificateCreate => Target::Certificate,
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Op::Authentication | Op::SecretGet | Op::SecretSet | Op::CertificateGet => {
                Shape::Object
            }
            Op::SecretDelete
            | Op::KeyGet
            | Op::KeyCreate
            | Op::CertificateCreate
            | Op::SecretGetDeleted
            | Op::KeyGetDeleted
            | Op::CertificateGetDeleted
            | Op::CertificateIssuerGet => Shape::ObjectNoVersion,
            Op::SecretList | Op::KeyList | Op::CertificateList | Op::CertificateIssuersList => {
                Shape::Collection
            }
            Op::SecretListVersions | Op::KeyListVersions | Op::CertificateListVersions => {
                Shape::Versions
            }
            Op::SecretListDeleted | Op::KeyListDeleted | Op::CertificateListDeleted => {
                Shape::Deleted
            }
            Op::CertificateContactsGet => Shape::Fixed,
            Op::KeySign => Shape::Crypto("sign"),
            Op::KeyVerify => Shape::Crypto("verify"),
            Op::KeyWrap => Shape::Crypto("wrapkey"),
            Op::KeyUnwrap => Shape::Crypto("unwrapkey"),
            Op::KeyDecrypt => Shape::Crypto("decrypt"),
            Op::CertificatePolicyGet => Shape::Policy,
            Op::VaultGet | Op::VaultPut => Shape::Management,
        }
    }

    /// The collection segment of the data-plane URL.
    pub fn collection(self) -> &'static str {
        match (self, self.target()) {
            (Op::SecretListDeleted | Op::SecretGetDeleted, _) => "deletedsecrets",
            (Op::KeyListDeleted | Op::KeyGetDeleted, _) => "deletedkeys",
            (Op::CertificateListDeleted | Op::CertificateGetDeleted, _) => "deletedcertificates",
            (Op::CertificateIssuersList | Op::CertificateIssuerGet, _) => "certificates/issuers",
            (Op::CertificateContactsGet, _) => "certificates/contacts",
            (_, Target::Secret) => "secrets",
            (_, Target::Key) => "keys",
            (_, Target::Certificate) => "certificates",
            (_, Target::Vault) => "",
        }
    }

    /// Typical server-side duration in ms (median-ish) used to draw `durationMs`.
    pub fn typical_ms(self) -> u32 {
        match self {
            Op::Authentication => 1,
            Op::VaultGet | Op::VaultPut => 80,
            Op::KeyCreate | Op::CertificateCreate => 250,
            Op::KeySign | Op::KeyDecrypt | Op::KeyUnwrap => 25,
            Op::SecretList | Op::KeyList | Op::CertificateList => 60,
            Op::SecretListDeleted | Op::KeyListDeleted | Op::CertificateListDeleted => 45,
            _ => 12,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_flags_agree_with_the_rule_list() {
        for op in Op::ALL {
            assert_eq!(op.is_read(), is_read_operation(op.name()), "{}", op.name());
        }
        // Every one of the 20 is an operation the generator can emit.
        let reads: Vec<&str> = Op::ALL
            .iter()
            .filter(|o| o.is_read())
            .map(|o| o.name())
            .collect();
        assert_eq!(reads.len(), 20);
        for name in READ_OPERATIONS {
            assert!(reads.contains(&name), "{name}");
        }
        let mut names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Op::ALL.len());
        assert!(!is_read_operation("KeyUnwrap"));
    }
}
