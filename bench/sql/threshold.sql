-- Elastic's ES|QL "Excessive Secret or Key Retrieval from Azure Key Vault"
-- (rule c07f7898-5dc3-11f0-9f27-f661ea17fbcd) over the `ev` table from load.sql:
--   WHERE event.action IN (20 read operations)
--   EVAL time_window = DATE_TRUNC(1 minute, @timestamp)
--   STATS ... BY time_window, upn
--   WHERE actor_unique_count == 1 AND action_count >= 5 AND distinct_actions >= 2
-- GROUP BY upn keeps a NULL-UPN bucket, whose COUNT(DISTINCT upn) is 0: it never alerts,
-- as in ES|QL.
SELECT
    strftime(date_trunc('minute', ts), '%Y-%m-%dT%H:%M:%SZ') AS window_start,
    upn,
    count(*)                  AS action_count,
    count(DISTINCT operation) AS distinct_actions
FROM ev
WHERE category = 'AuditEvent'
  AND operation IN (
    'VaultGet', 'KeyGet', 'KeyList', 'KeyListVersions', 'KeyGetDeleted', 'KeyListDeleted',
    'SecretGet', 'SecretList', 'SecretListVersions', 'SecretGetDeleted', 'SecretListDeleted',
    'CertificateGet', 'CertificateList', 'CertificateListVersions', 'CertificateGetDeleted',
    'CertificateListDeleted', 'CertificatePolicyGet', 'CertificateContactsGet',
    'CertificateIssuerGet', 'CertificateIssuersList')
GROUP BY date_trunc('minute', ts), upn
HAVING count(DISTINCT upn) = 1 AND count(*) >= 5 AND count(DISTINCT operation) >= 2
ORDER BY window_start, upn;
