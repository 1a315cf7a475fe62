-- As load.sql, plus every column the Elastic rule's STATS ... VALUES() outputs need
-- (threshold_full.sql). {files} is a DuckDB list literal of the log files, in time order.
SET TimeZone = 'UTC';
CREATE TEMP TABLE ev AS
SELECT
    CAST("time" AS TIMESTAMPTZ)                                   AS ts,
    "time"                                                        AS time_text,
    operationName                                                 AS operation,
    category,
    callerIpAddress                                               AS caller_ip,
    coalesce(
        nullif(identity -> 'claim' ->> 'upn', ''),
        nullif(identity -> 'claim' ->> 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', '')
    )                                                             AS upn,
    coalesce(nullif(identity -> 'claim' ->> 'appid', ''),
             nullif(identity -> 'claim' ->> 'azp', ''))           AS app_id,
    coalesce(
        nullif(identity -> 'claim' ->> 'oid', ''),
        nullif(identity -> 'claim' ->> 'http://schemas.microsoft.com/identity/claims/objectidentifier', '')
    )                                                             AS object_id,
    resultType                                                    AS result_type,
    resourceId                                                    AS resource_id,
    split_part(resourceId, '/', 3)                                AS subscription_id,
    split_part(resourceId, '/', 5)                                AS resource_group,
    split_part(resourceId, '/', 9)                                AS vault_name
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
        identity: 'JSON'
    })
WHERE upper(resourceId) LIKE '%/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%';
