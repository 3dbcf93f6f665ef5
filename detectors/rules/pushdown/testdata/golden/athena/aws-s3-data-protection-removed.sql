-- rule: aws-s3-data-protection-removed
-- status: coarse
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.LifecycleConfiguration.Rule may hold an array or object
-- coarse: requestParameters.ObjectLockConfiguration may hold an array or object
-- coarse: requestParameters.ObjectLockConfiguration.Rule may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 's3.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname = 'PutBucketVersioning' AND (regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '(?i)"Status":"Suspended"|"MfaDelete":"Disabled"') OR TRUE)) OR (eventname IN ('PutBucketLifecycle', 'PutBucketLifecycleConfiguration') AND ((json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule') IS NOT NULL AND regexp_like(json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule'), '"(Expiration|NoncurrentVersionExpiration)":\{[^{}]*("(Days|NoncurrentDays)":"?[0-7]"?[,}]|"Date":)') AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule'), '"Prefix":"[^"*/]|"Tag"|"And"|"ObjectSize|"Status":"Disabled"'), FALSE))) OR COALESCE(json_array_length(json_extract(requestparameters, '$.LifecycleConfiguration')) IS NOT NULL OR (json_extract(requestparameters, '$.LifecycleConfiguration.Rule') IS NOT NULL AND json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule') IS NULL), FALSE))) OR (eventname = 'PutObjectLockConfiguration' AND (json_extract_scalar(requestparameters, '$.ObjectLockConfiguration') IS NOT NULL OR COALESCE((json_extract(requestparameters, '$.ObjectLockConfiguration') IS NOT NULL AND json_extract_scalar(requestparameters, '$.ObjectLockConfiguration') IS NULL), FALSE)) AND NOT (json_extract_scalar(requestparameters, '$.ObjectLockConfiguration.Rule') IS NOT NULL)) OR (eventname IN ('DeleteObject', 'DeleteObjects', 'PutObjectRetention', 'DeleteObjectVersion') AND (regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '(?i)"x-amz-bypass-governance-retention":"?true') OR TRUE)))
