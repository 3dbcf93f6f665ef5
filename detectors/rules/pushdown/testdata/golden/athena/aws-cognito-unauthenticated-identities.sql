-- rule: aws-cognito-unauthenticated-identities
-- status: coarse
-- coarse: requestParameters.allowUnauthenticatedIdentities may hold an array or object
-- coarse: requestParameters.roles.unauthenticated may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'cognito-identity.amazonaws.com'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventname IN ('CreateIdentityPool', 'UpdateIdentityPool') AND (json_extract_scalar(requestparameters, '$.allowUnauthenticatedIdentities') = 'true' OR COALESCE((json_extract(requestparameters, '$.allowUnauthenticatedIdentities') IS NOT NULL AND json_extract_scalar(requestparameters, '$.allowUnauthenticatedIdentities') IS NULL), FALSE))) OR (eventname = 'SetIdentityPoolRoles' AND (json_extract_scalar(requestparameters, '$.roles.unauthenticated') IS NOT NULL OR COALESCE(json_array_length(json_extract(requestparameters, '$.roles')) IS NOT NULL OR (json_extract(requestparameters, '$.roles.unauthenticated') IS NOT NULL AND json_extract_scalar(requestparameters, '$.roles.unauthenticated') IS NULL), FALSE))))
