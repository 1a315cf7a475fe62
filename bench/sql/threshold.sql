-- Elastic's ES|QL "Excessive Secret or Key Retrieval from Azure Key Vault"
-- (rule c07f7898-5dc3-11f0-9f27-f661ea17fbcd) over the `ev` table from load.sql:
--   WHERE event.action IN (20 read operations)
--   EVAL time_window = DATE_TRUNC(1 minute, @timestamp)
--   STATS ... BY time_window, upn
--   WHERE actor_unique_count == 1 AND action_count >= 5 AND distinct_actions >= 2
-- Written as a DuckDB user would for speed: counts per (minute, UPN, operation) first, so
-- the distinct operations of a window are its rows (about 4x faster here than
-- count(DISTINCT operation) over the events). actor_unique_count == 1 in a group by UPN is
-- "the UPN is not null": ES|QL's null-UPN bucket has COUNT_DISTINCT 0 and never alerts.
WITH per_operation AS (
    SELECT date_trunc('minute', ts) AS tw, upn, operation, count(*) AS n
    FROM ev
    WHERE category = 'AuditEvent'
      AND upn IS NOT NULL
      AND operation IN ({read_operations})
    GROUP BY tw, upn, operation
)
SELECT
    strftime(tw, '%Y-%m-%dT%H:%M:%SZ') AS window_start,
    upn,
    sum(n)::BIGINT                     AS action_count,
    count(*)                           AS distinct_actions
FROM per_operation
GROUP BY tw, upn
HAVING sum(n) >= 5 AND count(*) >= 2
ORDER BY window_start, upn;
