-- One scan of the raw JSON lines (plain and gzipped alike) into the columns both rules need.
-- {files} is a DuckDB list literal of the log files, in time order.
-- The time is kept as text too: DuckDB keeps microseconds (it truncates the 7th digit),
-- kvsentry 100 ns, so the text is what is compared for the TI rule's latest event.
SET TimeZone = 'UTC';
CREATE TEMP TABLE ev AS
SELECT
    CAST("time" AS TIMESTAMPTZ)                                   AS ts,
    "time"                                                        AS time_text,
    operationName                                                 AS operation,
    category,
    callerIpAddress                                               AS caller_ip,
    coalesce(
        nullif(identity.claim.upn, ''),
        nullif(identity.claim."http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", '')
    )                                                             AS upn
FROM read_json({files},
    format = 'newline_delimited',
    compression = 'auto_detect',
    columns = {
        "time": 'VARCHAR',
        resourceId: 'VARCHAR',
        operationName: 'VARCHAR',
        category: 'VARCHAR',
        callerIpAddress: 'VARCHAR',
        -- Typed as the claims read: DuckDB then skips the rest of the object instead of
        -- keeping it as JSON text (a third faster than identity: 'JSON' and ->>).
        identity: 'STRUCT(claim STRUCT(upn VARCHAR, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn" VARCHAR))'
    })
-- Key Vault audit events only (as kvsentry's readers: not Managed HSM, not other categories).
WHERE upper(resourceId) LIKE '%/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%';
