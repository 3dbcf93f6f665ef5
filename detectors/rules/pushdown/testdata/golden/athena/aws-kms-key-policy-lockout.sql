-- rule: aws-kms-key-policy-lockout
-- status: coarse
-- coarse: requestParameters.bypassPolicyLockoutSafetyCheck may hold an array or object
-- coarse: requestParameters.policy may hold an array or object
-- coarse: requestParameters.policy: policy
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'kms.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname IN ('PutKeyPolicy', 'CreateKey') AND (json_extract_scalar(requestparameters, '$.bypassPolicyLockoutSafetyCheck') = 'true' OR COALESCE((json_extract(requestparameters, '$.bypassPolicyLockoutSafetyCheck') IS NOT NULL AND json_extract_scalar(requestparameters, '$.bypassPolicyLockoutSafetyCheck') IS NULL), FALSE))) OR (eventname = 'PutKeyPolicy' AND ((json_extract_scalar(requestparameters, '$.policy') IS NOT NULL AND regexp_like(json_extract_scalar(requestparameters, '$.policy'), '"Statement"') AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.policy'), ':root"|"AWS":\s*"[0-9]{12}"|"AWS":\s*\[[^\]]*"[0-9]{12}"'), FALSE))) OR COALESCE((json_extract(requestparameters, '$.policy') IS NOT NULL AND json_extract_scalar(requestparameters, '$.policy') IS NULL), FALSE))))
