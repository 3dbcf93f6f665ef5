-- rule: aws-waf-ip-set-covers-internet
-- status: coarse
-- coarse: requestParameters.addresses may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'wafv2.amazonaws.com'
  AND eventname IN ('CreateIPSet', 'UpdateIPSet')
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (regexp_like(json_extract_scalar(requestparameters, '$.addresses'), '^(\d{1,3}\.){3}\d{1,3}/[0-7]$|^[0-9A-Fa-f:]+/([0-9]|1[0-5])$') OR COALESCE((json_extract(requestparameters, '$.addresses') IS NOT NULL AND json_extract_scalar(requestparameters, '$.addresses') IS NULL), FALSE))
