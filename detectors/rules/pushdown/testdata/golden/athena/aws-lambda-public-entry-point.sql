-- rule: aws-lambda-public-entry-point
-- status: coarse
-- coarse: requestParameters.authType may hold an array or object
-- coarse: requestParameters.principal may hold an array or object
-- coarse: requestParameters.principalOrgID may hold an array or object
-- coarse: requestParameters.sourceAccount may hold an array or object
-- coarse: requestParameters.sourceArn may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'lambda.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname IN ('AddPermission', 'AddPermission20150331', 'AddPermission20150331v2') AND (json_extract_scalar(requestparameters, '$.principal') = '*' OR COALESCE((json_extract(requestparameters, '$.principal') IS NOT NULL AND json_extract_scalar(requestparameters, '$.principal') IS NULL), FALSE)) AND NOT (json_extract_scalar(requestparameters, '$.sourceArn') IS NOT NULL) AND NOT (json_extract_scalar(requestparameters, '$.sourceAccount') IS NOT NULL) AND NOT (json_extract_scalar(requestparameters, '$.principalOrgID') IS NOT NULL)) OR (eventname IN ('CreateFunctionUrlConfig', 'CreateFunctionUrlConfig20211031', 'UpdateFunctionUrlConfig', 'UpdateFunctionUrlConfig20211031') AND (json_extract_scalar(requestparameters, '$.authType') = 'NONE' OR COALESCE((json_extract(requestparameters, '$.authType') IS NOT NULL AND json_extract_scalar(requestparameters, '$.authType') IS NULL), FALSE))))
