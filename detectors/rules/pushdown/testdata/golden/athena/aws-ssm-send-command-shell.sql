-- rule: aws-ssm-send-command-shell
-- status: coarse
-- coarse: requestParameters.documentName may hold an array or object
-- coarse: requestParameters.entries.name may hold an array or object
-- coarse: requestParameters.name may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'ssm.amazonaws.com'
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname = 'SendCommand' AND (json_extract_scalar(requestparameters, '$.documentName') IN ('AWS-RunShellScript', 'AWS-RunPowerShellScript', 'AWS-RunRemoteScript') OR COALESCE((json_extract(requestparameters, '$.documentName') IS NOT NULL AND json_extract_scalar(requestparameters, '$.documentName') IS NULL), FALSE))) OR (eventname IN ('CreateAssociation', 'UpdateAssociation', 'CreateAssociationBatch') AND (json_extract_scalar(requestparameters, '$.name') IN ('AWS-RunShellScript', 'AWS-RunPowerShellScript', 'AWS-RunRemoteScript') OR COALESCE((json_extract(requestparameters, '$.name') IS NOT NULL AND json_extract_scalar(requestparameters, '$.name') IS NULL), FALSE) OR json_extract_scalar(requestparameters, '$.entries.name') IN ('AWS-RunShellScript', 'AWS-RunPowerShellScript', 'AWS-RunRemoteScript') OR COALESCE(json_array_length(json_extract(requestparameters, '$.entries')) IS NOT NULL OR (json_extract(requestparameters, '$.entries.name') IS NOT NULL AND json_extract_scalar(requestparameters, '$.entries.name') IS NULL), FALSE))))
