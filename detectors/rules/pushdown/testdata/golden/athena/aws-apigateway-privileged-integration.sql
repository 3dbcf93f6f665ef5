-- rule: aws-apigateway-privileged-integration
-- status: coarse
-- coarse: requestParameters may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'apigateway.amazonaws.com'
  AND eventname IN ('PutIntegration', 'UpdateIntegration')
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND (regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, 'arn:aws[a-z-]*:apigateway:[a-z0-9-]*:(iam|sts|secretsmanager|ssm|kms|organizations|sso|identitystore|cognito-idp):(action|path)/') OR TRUE)
  AND NOT (COALESCE(regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, 'arn:aws[a-z-]*:iam::\*:user/\*'), FALSE))
