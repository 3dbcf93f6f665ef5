-- rule: aws-redshift-privileged-credentials
-- status: coarse
-- coarse: requestParameters.autoCreate may hold an array or object
-- coarse: requestParameters.dbGroups may hold an array or object
-- coarse: requestParameters.dbUser may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'redshift.amazonaws.com'
  AND eventname = 'GetClusterCredentials'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (regexp_like(json_extract_scalar(requestparameters, '$.dbUser'), '(?i)^(admin|administrator|awsuser|root|master|masteruser|superuser|rdsdb|dbadmin|sysadmin)$') OR COALESCE((json_extract(requestparameters, '$.dbUser') IS NOT NULL AND json_extract_scalar(requestparameters, '$.dbUser') IS NULL), FALSE) OR ((json_extract_scalar(requestparameters, '$.autoCreate') = 'true' OR COALESCE((json_extract(requestparameters, '$.autoCreate') IS NOT NULL AND json_extract_scalar(requestparameters, '$.autoCreate') IS NULL), FALSE)) AND (lower(json_extract_scalar(requestparameters, '$.dbGroups')) LIKE '%admin%' ESCAPE '\' OR COALESCE((json_extract(requestparameters, '$.dbGroups') IS NOT NULL AND json_extract_scalar(requestparameters, '$.dbGroups') IS NULL), FALSE))))
