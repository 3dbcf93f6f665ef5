-- rule: aws-console-login-without-mfa
-- status: exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'signin.amazonaws.com'
  AND eventname = 'ConsoleLogin'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND CASE WHEN json_extract_scalar(additionaleventdata, '$.MFAUsed') <> '' THEN (CASE WHEN lower(json_extract_scalar(additionaleventdata, '$.MFAUsed')) = 'yes' THEN 'true' ELSE 'false' END) WHEN lower(trim(useridentity.sessioncontext.attributes.mfaauthenticated)) IN ('true', '1', 't') THEN 'true' WHEN lower(trim(useridentity.sessioncontext.attributes.mfaauthenticated)) IN ('false', '0', 'f') THEN 'false' END = 'false'
  AND useridentity.type IN ('IAMUser', 'Root')
