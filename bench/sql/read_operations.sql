-- The Elastic rule's 20 read operations (its `event.action IN (...)`), the list
-- {read_operations} stands for in threshold.sql and threshold_full.sql (duck.py fills it in).
'VaultGet', 'KeyGet', 'KeyList', 'KeyListVersions', 'KeyGetDeleted', 'KeyListDeleted',
'SecretGet', 'SecretList', 'SecretListVersions', 'SecretGetDeleted', 'SecretListDeleted',
'CertificateGet', 'CertificateList', 'CertificateListVersions', 'CertificateGetDeleted',
'CertificateListDeleted', 'CertificatePolicyGet', 'CertificateContactsGet',
'CertificateIssuerGet', 'CertificateIssuersList'
