-- rule: aws-console-login-failures
-- status: exact
WITH m AS (
  SELECT * FROM (
    SELECT eventid AS event_id, eventtime AS event_time, from_iso8601_timestamp(eventtime) AS ts, COALESCE(COALESCE(NULLIF(recipientaccountid, ''), NULLIF(useridentity.accountid, '')), '') AS k1, COALESCE(NULLIF(sourceipaddress, ''), '') AS k2
    FROM cloudtrail_logs
    WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
      AND eventtime >= '2026-03-01T00:00:00Z'
      AND eventtime < '2026-03-01T01:00:00Z'
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'ConsoleLogin'
      AND (errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure')))
  )
)
SELECT a.k1, a.k2, a.event_id, a.event_time, count(DISTINCT b.event_id) AS n
FROM m a JOIN m b ON b.k1 = a.k1 AND b.k2 = a.k2 AND b.ts BETWEEN a.ts - INTERVAL '600' SECOND AND a.ts
GROUP BY a.k1, a.k2, a.event_id, a.event_time
HAVING count(DISTINCT b.event_id) >= 5
