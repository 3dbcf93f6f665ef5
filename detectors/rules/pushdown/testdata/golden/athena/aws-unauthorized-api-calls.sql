-- rule: aws-unauthorized-api-calls
-- status: exact
WITH m AS (
  SELECT * FROM (
    SELECT eventid AS event_id, eventtime AS event_time, from_iso8601_timestamp(eventtime) AS ts, COALESCE(COALESCE(NULLIF(recipientaccountid, ''), NULLIF(useridentity.accountid, '')), '') AS k1, COALESCE(NULLIF(useridentity.arn, ''), '') AS k2
    FROM cloudtrail_logs
    WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
      AND eventtime >= '2026-03-01T00:00:00Z'
      AND eventtime < '2026-03-01T01:00:00Z'
      AND (NULLIF(errorcode, '') LIKE 'AccessDenied%' ESCAPE '\' OR NULLIF(errorcode, '') LIKE '%UnauthorizedOperation' ESCAPE '\' OR NULLIF(errorcode, '') LIKE '%Unauthorized' ESCAPE '\')
      AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  )
)
SELECT a.k1, a.k2, a.event_id, a.event_time, count(DISTINCT b.event_id) AS n
FROM m a JOIN m b ON b.k1 = a.k1 AND b.k2 = a.k2 AND b.ts BETWEEN a.ts - INTERVAL '600' SECOND AND a.ts
GROUP BY a.k1, a.k2, a.event_id, a.event_time
HAVING count(DISTINCT b.event_id) >= 5
