-- Microsoft Sentinel "TI map IP entity to Azure Key Vault logs" (1.3.4, rule
-- 57c7e832-64eb-411f-8928-4133f01f4a25) as one scheduled run at {as_of}, over the `ev` table
-- from load.sql and the ThreatIntelligenceIndicator export {ti_file} (JSON lines).
-- Each CTE quotes the KQL line it restates.
WITH ind AS (
    SELECT *,
        -- extend TI_ipEntity = iff(isnotempty(NetworkIP), NetworkIP, NetworkDestinationIP), then
        -- NetworkSourceIP, then EmailSourceIpAddress when still empty
        coalesce(nullif(NetworkIP, ''), nullif(NetworkDestinationIP, ''),
                 nullif(NetworkSourceIP, ''), nullif(EmailSourceIpAddress, '')) AS ti_ip
    FROM read_json({ti_file},
        format = 'newline_delimited',
        columns = {
            TimeGenerated: 'TIMESTAMPTZ', IndicatorId: 'VARCHAR', Active: 'BOOLEAN',
            ExpirationDateTime: 'TIMESTAMPTZ', NetworkIP: 'VARCHAR',
            NetworkDestinationIP: 'VARCHAR', NetworkSourceIP: 'VARCHAR',
            EmailSourceIpAddress: 'VARCHAR', ThreatType: 'VARCHAR', Description: 'VARCHAR',
            ConfidenceScore: 'INTEGER'
        })
),
ip_indicators AS (
    SELECT * FROM ind
    -- where isnotempty(NetworkIP) or isnotempty(EmailSourceIpAddress) or ...
    WHERE ti_ip IS NOT NULL
      -- where TimeGenerated >= ago(14d)   (and, replaying a run at T, not after T)
      AND TimeGenerated >= TIMESTAMPTZ '{as_of}' - INTERVAL 14 DAY
      AND TimeGenerated <= TIMESTAMPTZ '{as_of}'
      -- where ipv4_is_private(TI_ipEntity) == false and !startswith "fe80" / "::" / "127."
      -- (ipv4_is_private is null, so the row is dropped, for anything but IPv4 text)
      AND regexp_full_match(ti_ip, '[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}')
      AND NOT (ti_ip LIKE '10.%' OR ti_ip LIKE '192.168.%'
               OR (ti_ip LIKE '172.%' AND TRY_CAST(split_part(ti_ip, '.', 2) AS INTEGER) BETWEEN 16 AND 31))
      AND NOT starts_with(lower(ti_ip), 'fe80') AND NOT starts_with(ti_ip, '::')
      AND NOT starts_with(ti_ip, '127.')
    -- summarize arg_max(TimeGenerated, *) by IndicatorId
    QUALIFY row_number() OVER (PARTITION BY IndicatorId ORDER BY TimeGenerated DESC) = 1
),
live AS (
    -- where Active == true and ExpirationDateTime > now()
    SELECT * FROM ip_indicators
    WHERE Active AND ExpirationDateTime > TIMESTAMPTZ '{as_of}'
)
-- join kind=innerunique (AzureDiagnostics ...) on TI_ipEntity == ClientIP
-- where KeyVaultEvents_TimeGenerated < ExpirationDateTime
-- summarize arg_max(KeyVaultEvents_TimeGenerated, *) by IndicatorId, ClientIP
SELECT
    l.IndicatorId            AS indicator_id,
    e.caller_ip              AS ip,
    arg_max(e.time_text, e.ts) AS event_time,
    count(*)                 AS events
FROM live l
JOIN ev e ON e.caller_ip = l.ti_ip AND e.ts < l.ExpirationDateTime
GROUP BY l.IndicatorId, e.caller_ip
ORDER BY indicator_id, ip;
