-- rule: aws-signin-console-from-keys
-- status: exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'signin.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND ((eventname = 'GetSigninToken' AND NOT (COALESCE(NULLIF(useragent, '') LIKE '%Jersey/%' ESCAPE '\', FALSE))) OR (eventname = 'ConsoleLogin' AND useridentity.type = 'FederatedUser') OR (eventname IN ('ConsoleLogin', 'GetSigninToken') AND CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 OR strpos(useridentity.arn, ':federated-user/') > 0 THEN NULLIF(regexp_extract(useridentity.arn, '[^/]*$'), '') END LIKE 'i-%' ESCAPE '\'))
