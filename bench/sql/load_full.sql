-- As load.sql, plus what the Elastic rule's STATS ... VALUES() outputs are computed from
-- (threshold_full.sql): the identity claims, the result type and the resource id. The
-- values derived from them (app and object ids, subscription, resource group, vault) are
-- computed there for the alerting windows' events only, as an analyst who knows SQL would:
-- deriving them here for every event costs DuckDB more than the whole minimal query.
-- {files} is a DuckDB list literal of the log files, in time order.
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
    )                                                             AS upn,
    identity,
    resultType                                                    AS result_type,
    resourceId                                                    AS resource_id
FROM read_json({files},
    format = 'newline_delimited',
    compression = 'auto_detect',
    columns = {
        "time": 'VARCHAR',
        resourceId: 'VARCHAR',
        operationName: 'VARCHAR',
        category: 'VARCHAR',
        resultType: 'VARCHAR',
        callerIpAddress: 'VARCHAR',
        -- Typed as the claims read (see load.sql).
        identity: 'STRUCT(claim STRUCT(upn VARCHAR, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn" VARCHAR, appid VARCHAR, azp VARCHAR,
            oid VARCHAR, "http://schemas.microsoft.com/identity/claims/objectidentifier" VARCHAR))'
    })
WHERE upper(resourceId) LIKE '%/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%';
