-- rule: aws-apigateway-authorization-removed
-- status: coarse
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.authorizationType may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'apigateway.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname = 'UpdateMethod' AND (regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '"path":"/(authorizationType|apiKeyRequired)","value":"(?i:none|false)"') OR TRUE)) OR (eventname = 'UpdateRoute' AND (json_extract_scalar(requestparameters, '$.authorizationType') = 'NONE' OR COALESCE((json_extract(requestparameters, '$.authorizationType') IS NOT NULL AND json_extract_scalar(requestparameters, '$.authorizationType') IS NULL), FALSE))))
