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
    SecretSet,
    SecretDelete,
    KeyGet,
    KeyList,
    KeyListVersions,
    KeyCreate,
    KeySign,
    KeyVerify,
    KeyWrap,
    KeyUnwrap,
    KeyDecrypt,
    CertificateGet,
    CertificateList,
    CertificateListVersions,
    CertificatePolicyGet,
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
    pub fn name(self) -> &'static str {
        match self {
            Op::Authentication => "Authentication",
            Op::VaultGet => "VaultGet",
            Op::VaultPut => "VaultPut",
            Op::SecretGet => "SecretGet",
            Op::SecretList => "SecretList",
            Op::SecretListVersions => "SecretListVersions",
            Op::SecretListDeleted => "SecretListDeleted",
            Op::SecretSet => "SecretSet",
            Op::SecretDelete => "SecretDelete",
            Op::KeyGet => "KeyGet",
            Op::KeyList => "KeyList",
            Op::KeyListVersions => "KeyListVersions",
            Op::KeyCreate => "KeyCreate",
            Op::KeySign => "KeySign",
            Op::KeyVerify => "KeyVerify",
            Op::KeyWrap => "KeyWrap",
            Op::KeyUnwrap => "KeyUnwrap",
            Op::KeyDecrypt => "KeyDecrypt",
            Op::CertificateGet => "CertificateGet",
            Op::CertificateList => "CertificateList",
            Op::CertificateListVersions => "CertificateListVersions",
            Op::CertificatePolicyGet => "CertificatePolicyGet",
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
                | Op::KeyGet
                | Op::KeyList
                | Op::KeyListVersions
                | Op::CertificateGet
                | Op::CertificateList
                | Op::CertificateListVersions
                | Op::CertificatePolicyGet
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
            | Op::SecretSet
            | Op::SecretDelete => Target::Secret,
            Op::VaultGet | Op::VaultPut => Target::Vault,
            Op::KeyGet
            | Op::KeyList
            | Op::KeyListVersions
            | Op::KeyCreate
            | Op::KeySign
            | Op::KeyVerify
            | Op::KeyWrap
            | Op::KeyUnwrap
            | Op::KeyDecrypt => Target::Key,
            Op::CertificateGet
            | Op::CertificateList
            | Op::CertificateListVersions
            | Op::CertificatePolicyGet
            | Op::CertificateIssuersList
            | Op::CertificateCreate => Target::Certificate,
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Op::Authentication | Op::SecretGet | Op::SecretSet | Op::CertificateGet => {
                Shape::Object
            }
            Op::SecretDelete | Op::KeyGet | Op::KeyCreate | Op::CertificateCreate => {
                Shape::ObjectNoVersion
            }
            Op::SecretList | Op::KeyList | Op::CertificateList | Op::CertificateIssuersList => {
                Shape::Collection
            }
            Op::SecretListVersions | Op::KeyListVersions | Op::CertificateListVersions => {
                Shape::Versions
            }
            Op::SecretListDeleted => Shape::Deleted,
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
            (Op::SecretListDeleted, _) => "deletedsecrets",
            (Op::CertificateIssuersList, _) => "certificates/issuers",
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
            _ => 12,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_flags_agree_with_the_rule_list() {
        let all = [
            Op::Authentication,
            Op::VaultGet,
            Op::VaultPut,
            Op::SecretGet,
            Op::SecretList,
            Op::SecretListVersions,
            Op::SecretListDeleted,
            Op::SecretSet,
            Op::SecretDelete,
            Op::KeyGet,
            Op::KeyList,
            Op::KeyListVersions,
            Op::KeyCreate,
            Op::KeySign,
            Op::KeyVerify,
            Op::KeyWrap,
            Op::KeyUnwrap,
            Op::KeyDecrypt,
            Op::CertificateGet,
            Op::CertificateList,
            Op::CertificateListVersions,
            Op::CertificatePolicyGet,
            Op::CertificateIssuersList,
            Op::CertificateCreate,
        ];
        for op in all {
            assert_eq!(op.is_read(), is_read_operation(op.name()), "{}", op.name());
        }
        assert_eq!(all.iter().filter(|o| o.is_read()).count(), 13);
        assert!(!is_read_operation("KeyUnwrap"));
    }
}
